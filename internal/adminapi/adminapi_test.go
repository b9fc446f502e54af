package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sealgate/vault"
)

// fixture is a vault with two transfers and an account, served by an admin
// handler on a loopback port.
type fixture struct {
	v      *vault.Vault
	local  *Local
	client *Client
	srv    *httptest.Server
	secret string
	ids    []string // transfer references, oldest first
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	v, err := vault.Open(ctx, vault.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	f := &fixture{v: v, local: &Local{Store: v}}
	for i, nt := range []vault.NewTransfer{
		{Level: 1, Sender: "clerk@example.org", Recipients: []string{"a@example.net", "b@example.net"}},
		{Level: 2, Sender: "other@example.org", Recipients: []string{"c@example.net"}},
	} {
		d, err := v.BeginTransfer(ctx, nt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.AddFile(ctx, []string{"bescheid.pdf", "anlage.txt"}[i], "application/pdf", strings.NewReader(strings.Repeat("x", 1000*(i+1)))); err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		f.ids = append(f.ids, d.ID())
	}
	if _, err := v.TouchAccount(ctx, "citizen@example.net", "de"); err != nil {
		t.Fatal(err)
	}
	f.secret, err = EnsureSecret(filepath.Join(dir, SecretFile))
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(NewHandler(Config{Admin: f.local, Secret: f.secret, Storage: v}))
	t.Cleanup(f.srv.Close)
	f.client = NewClient(strings.TrimPrefix(f.srv.URL, "http://"), f.secret)
	return f
}

// TestClientAndLocalAgree runs each read-only command both ways and
// compares the answers as the CLI would print them (JSON).
func TestClientAndLocalAgree(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	asOf := time.Now().AddDate(0, 0, 61)
	calls := map[string]func(Admin) (any, error){
		"transfers":         func(a Admin) (any, error) { return a.Transfers(ctx, vault.TransferFilter{}) },
		"transfers sender":  func(a Admin) (any, error) { return a.Transfers(ctx, vault.TransferFilter{Sender: "CLERK@example.org"}) },
		"transfers rcpt":    func(a Admin) (any, error) { return a.Transfers(ctx, vault.TransferFilter{Recipient: "c@example.net"}) },
		"transfers state":   func(a Admin) (any, error) { return a.Transfers(ctx, vault.TransferFilter{State: vault.StateRevoked}) },
		"transfer":          func(a Admin) (any, error) { return a.Transfer(ctx, f.ids[0]) },
		"transfer lower":    func(a Admin) (any, error) { return a.Transfer(ctx, strings.ToLower(f.ids[1])) },
		"accounts":          func(a Admin) (any, error) { return a.Accounts(ctx) },
		"purge dry run":     func(a Admin) (any, error) { return a.Purge(ctx, PurgeRequest{AsOf: asOf, DryRun: true}) },
		"receipt key":       func(a Admin) (any, error) { b, err := a.ReceiptKey(ctx); return string(b), err },
		"unknown transfer":  func(a Admin) (any, error) { return a.Transfer(ctx, "SG-NOPE-NOPE") },
		"bad state":         func(a Admin) (any, error) { return a.Transfers(ctx, vault.TransferFilter{State: "sideways"}) },
		"unknown account":   func(a Admin) (any, error) { return nil, a.DeleteAccount(ctx, "nobody@example.net") },
		"not an address":    func(a Admin) (any, error) { return nil, a.DeleteAccount(ctx, "<x>") },
		"unknown to revoke": func(a Admin) (any, error) { return a.Revoke(ctx, "SG-NOPE-NOPE") },
	}
	for name, call := range calls {
		lv, lerr := call(f.local)
		cv, cerr := call(f.client)
		lj, _ := json.Marshal(lv)
		cj, _ := json.Marshal(cv)
		if string(lj) != string(cj) {
			t.Errorf("%s: local and client differ:\n local  %s\n client %s", name, lj, cj)
		}
		if (lerr == nil) != (cerr == nil) || (lerr != nil && lerr.Error() != cerr.Error()) {
			t.Errorf("%s: errors differ: local %v, client %v", name, lerr, cerr)
		}
		for _, kind := range []error{vault.ErrNotFound, ErrInvalid} {
			if errors.Is(lerr, kind) != errors.Is(cerr, kind) {
				t.Errorf("%s: errors.Is(%v): local %v, client %v", name, kind, errors.Is(lerr, kind), errors.Is(cerr, kind))
			}
		}
	}
	list, err := f.client.Transfers(ctx, vault.TransferFilter{})
	if err != nil || len(list) != 2 || list[0].ID != f.ids[0] || list[0].Files[0].Name != "bescheid.pdf" {
		t.Fatalf("transfers: %+v, %v", list, err)
	}
	if k := list[0].Files[0].Keys; len(k) != 1 || k[0].Kind != KeyGateway || !k[0].Current {
		t.Errorf("keys of a level-1 file: %+v, want the current gateway key", k)
	}
	if _, err := f.client.Transfer(ctx, "SG-NOPE-NOPE"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("unknown transfer through the client: %v, want vault.ErrNotFound", err)
	}
}

// TestMutationsThroughClient revokes, deletes, rotates and purges through
// the admin listener and checks the vault afterwards.
func TestMutationsThroughClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	tr, err := f.client.Revoke(ctx, f.ids[0])
	if err != nil || tr.State != vault.StateRevoked || tr.RevokedAt.IsZero() || len(tr.Files[0].Keys) != 0 {
		t.Fatalf("revoke: %+v, %v", tr, err)
	}
	if info, _ := f.v.TransferByID(ctx, f.ids[0]); info.State != vault.StateRevoked {
		t.Errorf("vault state after revoke: %s", info.State)
	}
	if err := f.client.DeleteAccount(ctx, "Citizen@example.net"); err != nil {
		t.Fatalf("delete account: %v", err)
	}
	if _, err := f.v.Account(ctx, "citizen@example.net"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("account after delete: %v", err)
	}
	before, _ := f.local.Transfer(ctx, f.ids[1])
	rot, err := f.client.RotateKey(ctx)
	if err != nil || rot.KeyID == "" || rot.KeyID == before.Files[0].Keys[0].ID {
		t.Fatalf("rotate: %+v, %v (old key %s)", rot, err, before.Files[0].Keys[0].ID)
	}
	after, _ := f.local.Transfer(ctx, f.ids[1])
	if k := after.Files[0].Keys[0]; k.ID != before.Files[0].Keys[0].ID || k.Current {
		t.Errorf("old transfer after rotation: key %+v, want the old key, no longer current", k)
	}
	res, err := f.client.Purge(ctx, PurgeRequest{AsOf: time.Now().AddDate(0, 0, 61)})
	if err != nil || len(res.Transfers) != 2 || res.Files != 2 || !res.Compacted || len(res.Keys) != 1 {
		t.Fatalf("purge: %+v, %v", res, err)
	}
	if list, _ := f.local.Transfers(ctx, vault.TransferFilter{}); len(list) != 0 {
		t.Errorf("transfers after purge: %+v", list)
	}
}

// TestAdminNeedsTheSecret sends requests without the secret and with wrong
// ones: every one gets 401 and nothing is done, while health and metrics
// stay open.
func TestAdminNeedsTheSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Basic " + f.secret, "bearer " + f.secret, "Bearer " + f.secret + "x", f.secret} {
		for _, r := range []struct{ method, path string }{
			{"POST", "/admin/v1/transfers/" + f.ids[0] + "/revoke"},
			{"GET", "/admin/v1/transfers"},
			{"DELETE", "/admin/v1/accounts/citizen@example.net"},
			{"POST", "/admin/v1/purge"},
			{"POST", "/admin/v1/keys/rotate"},
			{"GET", "/admin/v1/nonexistent"},
		} {
			req, _ := http.NewRequest(r.method, f.srv.URL+r.path, strings.NewReader(`{"as_of":"2100-01-01T00:00:00Z"}`))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %q: %d, want 401", r.method, r.path, auth, resp.StatusCode)
			}
		}
	}
	if info, _ := f.v.TransferByID(ctx, f.ids[0]); info.State != vault.StateCommitted {
		t.Errorf("transfer state after refused requests: %s", info.State)
	}
	if _, err := f.v.Account(ctx, "citizen@example.net"); err != nil {
		t.Errorf("account after refused requests: %v", err)
	}
	wrong := NewClient(strings.TrimPrefix(f.srv.URL, "http://"), "d3Jvbmc=")
	if _, err := wrong.Transfers(ctx, vault.TransferFilter{}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("client with a wrong secret: %v, want ErrUnauthorized", err)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
}

func TestEmptySecretRefusesEverything(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(NewHandler(Config{Admin: &Local{}}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/admin/v1/accounts", nil)
	req.Header.Set("Authorization", "Bearer ")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("empty configured secret: %d, want 401", resp.StatusCode)
	}
}

func TestReadyzReportsTheNextHop(t *testing.T) {
	t.Parallel()
	ln := httptest.NewServer(http.NotFoundHandler()) // something listening
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := closed.Listener.Addr().String()
	closed.Close()
	defer ln.Close()
	for addr, want := range map[string]int{ln.Listener.Addr().String(): 200, closedAddr: 503} {
		srv := httptest.NewServer(NewHandler(Config{NextHop: addr}))
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != want {
			t.Errorf("readyz with next hop %s: %d, want %d", addr, resp.StatusCode, want)
		}
	}
}

func TestSecretFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, SecretFile)
	s1, err := EnsureSecret(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	s2, err := EnsureSecret(p)
	if err != nil || s2 != s1 {
		t.Errorf("second start: %q, %v; want the same secret", s2, err)
	}
	if r, err := ReadSecret(p); err != nil || r != s1 {
		t.Errorf("ReadSecret: %q, %v", r, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("leftover files beside the secret: %v", entries)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureSecret(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable secret accepted: %v", err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecret(short); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
}

// TestPurgeRequestRoundTrip checks that a purge time survives the wire
// exactly: "as it would run at TIME" must mean the same instant both ways.
func TestPurgeRequestRoundTrip(t *testing.T) {
	t.Parallel()
	rec := &recordingStore{}
	srv := httptest.NewServer(NewHandler(Config{Admin: &Local{Store: rec}, Secret: "c2VjcmV0c2VjcmV0c2VjcmV0"}))
	defer srv.Close()
	c := NewClient(strings.TrimPrefix(srv.URL, "http://"), "c2VjcmV0c2VjcmV0c2VjcmV0")
	asOf := time.Date(2026, 7, 1, 12, 30, 15, 123456789, time.FixedZone("CEST", 2*3600))
	res, err := c.Purge(context.Background(), PurgeRequest{AsOf: asOf, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.asOf.Equal(asOf) || !rec.dryRun || !res.AsOf.Equal(asOf) || !res.DryRun {
		t.Errorf("store saw %v dry=%v, result %v; want %v dry", rec.asOf, rec.dryRun, res.AsOf, asOf)
	}
	if !reflect.DeepEqual(res.Transfers, []string{}) {
		t.Errorf("empty list came back as %#v", res.Transfers)
	}
}

type recordingStore struct {
	Store
	asOf   time.Time
	dryRun bool
}

func (r *recordingStore) Purge(_ context.Context, asOf time.Time, dryRun bool) (vault.PurgeReport, error) {
	r.asOf, r.dryRun = asOf, dryRun
	return vault.PurgeReport{}, nil
}
