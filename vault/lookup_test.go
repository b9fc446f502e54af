package vault

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestTokenLookups(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	ctx := context.Background()
	d, f := storeOne(t, v, 1, "a.pdf", []byte("content"))
	created := clock.Now()

	if want := created.AddDate(0, 0, defaultTransferDays); !d.ExpiresAt().Equal(want) {
		t.Fatalf("ExpiresAt %v, want %v (default retention)", d.ExpiresAt(), want)
	}
	tr, err := v.TransferByToken(ctx, d.Token())
	if err != nil {
		t.Fatal(err)
	}
	if tr.ID != d.ID() || tr.Level != 1 || tr.Sender != "clerk@example.org" || len(tr.Files) != 1 || tr.Files[0] != f || !tr.Committed || !tr.ExpiresAt.Equal(d.ExpiresAt()) {
		t.Fatalf("transfer %+v", tr)
	}

	other, _ := newToken()
	flipped := []byte(d.Token())
	flipped[10] ^= 1
	for _, bad := range []string{"", "short", other, string(flipped), d.Token() + "A", strings.ToUpper(d.Token()), d.ID(), d.AccessCode()} {
		if _, err := v.TransferByToken(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("token %q: %v, want ErrNotFound", bad, err)
		}
	}

	// Expiry holds on every look-up, with no sweep having run.
	clock.Set(d.ExpiresAt().Add(-time.Second))
	if _, err := v.TransferByToken(ctx, d.Token()); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	clock.Set(d.ExpiresAt())
	if _, err := v.TransferByToken(ctx, d.Token()); !errors.Is(err, ErrExpired) {
		t.Errorf("at expiry: %v, want ErrExpired", err)
	}
	if _, _, err := v.OpenFile(ctx, d.ID(), f.ID); !errors.Is(err, ErrExpired) {
		t.Errorf("OpenFile at expiry: %v, want ErrExpired", err)
	}
	if _, err := v.TokenForAccessCode(ctx, d.AccessCode()); !errors.Is(err, ErrExpired) {
		t.Errorf("access code at expiry: %v, want ErrExpired", err)
	}
}

func TestTransferDaysConfig(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	v, err := Open(context.Background(), Config{Dir: t.TempDir(), TransferDays: 7, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	d, err := v.BeginTransfer(context.Background(), NewTransfer{Level: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().AddDate(0, 0, 7); !d.ExpiresAt().Equal(want) {
		t.Errorf("ExpiresAt %v, want %v", d.ExpiresAt(), want)
	}
	if _, err := Open(context.Background(), Config{Dir: t.TempDir(), TransferDays: -1}); err == nil {
		t.Error("negative retention accepted")
	}
}

func TestAccessCode(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	d, _ := storeOne(t, v, 1, "a.pdf", []byte("content"))
	code := d.AccessCode() // e.g. ABCD-EFGH-JKMN-PQRS
	plain := strings.ReplaceAll(code, "-", "")

	// Spell the code the ways people type it.
	confuse := strings.NewReplacer("0", "O", "1", "l")
	variants := []string{
		code,
		strings.ToLower(code),
		plain,
		strings.ToLower(plain),
		" " + plain[:4] + " " + plain[4:8] + "  " + plain[8:] + "\t",
		confuse.Replace(code),
		strings.ReplaceAll(code, "1", "I"),
		strings.ReplaceAll(code, "-", "\u2011"),
	}
	for _, in := range variants {
		got, err := v.TokenForAccessCode(ctx, in)
		if err != nil || got != d.Token() {
			t.Errorf("code %q: %q, %v; want the link token", in, got, err)
		}
	}
	wrong := []byte(plain)
	if wrong[0] == 'Z' {
		wrong[0] = 'Y'
	} else {
		wrong[0] = 'Z'
	}
	for _, bad := range []string{"", plain[:15], plain + "0", string(wrong), strings.ReplaceAll(code, plain[:1], "U"), d.Token(), "ABCD-EFGH-JKMN-PQR!"} {
		if _, err := v.TokenForAccessCode(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("code %q: %v, want ErrNotFound", bad, err)
		}
	}
}

func TestNormalizeAccessCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"ABCD-EFGH-JKMN-PQRS", "ABCDEFGHJKMNPQRS", true},
		{"abcd-efgh-jkmn-pqrs", "ABCDEFGHJKMNPQRS", true},
		{"abcdefghjkmnpqrs", "ABCDEFGHJKMNPQRS", true},
		{"OOOO-IIII-LLLL-oilz", "000011111111011Z", true},
		{"O0O0 I1L1 l1i1 0000", "0000111111110000", true},
		{"ABCD-EFGH-JKMN-PQRU", "", false}, // U is not in the alphabet
		{"ABCD-EFGH-JKMN-PQR", "", false},
		{"ABCD-EFGH-JKMN-PQRST", "", false},
		{"ÄBCD-EFGH-JKMN-PQRS", "", false},
		{"", "", false},
		{strings.Repeat("-", 100), "", false},
	} {
		got, ok := normalizeAccessCode(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("normalizeAccessCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if g := groupCode("ABCDEFGHJKMNPQRS"); g != "ABCD-EFGH-JKMN-PQRS" {
		t.Errorf("groupCode = %q", g)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	v, _, dir := openTestVault(t)
	ctx := context.Background()
	d, f := storeOne(t, v, 1, "a.pdf", []byte("content"))
	keep, keepFile := storeOne(t, v, 1, "b.pdf", []byte("other"))

	if err := v.Revoke(ctx, strings.ToLower(d.ID())); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := v.TransferByToken(ctx, d.Token()); !errors.Is(err, ErrRevoked) {
		t.Errorf("token after revoke: %v, want ErrRevoked", err)
	}
	if _, err := v.TokenForAccessCode(ctx, d.AccessCode()); !errors.Is(err, ErrRevoked) {
		t.Errorf("code after revoke: %v, want ErrRevoked", err)
	}
	if _, _, err := v.OpenFile(ctx, d.ID(), f.ID); !errors.Is(err, ErrRevoked) {
		t.Errorf("OpenFile after revoke: %v, want ErrRevoked", err)
	}
	// Key packets and blob gone; the other transfer untouched.
	v.db.View(func(tx *bolt.Tx) error {
		if k := keyPackets(tx, d.ID(), f.ID); len(k) != 0 {
			t.Error("key packets survive revocation")
		}
		rec, _, _ := getTransfer(tx, d.ID())
		if rec.RevokedAt.IsZero() || rec.SealedToken != nil {
			t.Errorf("record after revoke: %+v", rec)
		}
		return nil
	})
	if got := len(storageFiles(t, dir)); got != 4 { // db, two keys, the other blob
		t.Errorf("storage holds %d files after revoke, want 4", got)
	}
	if _, _, err := v.OpenFile(ctx, keep.ID(), keepFile.ID); err != nil {
		t.Errorf("other transfer after revoke: %v", err)
	}
	if err := v.Revoke(ctx, d.ID()); err != nil {
		t.Errorf("second Revoke: %v", err)
	}
	if err := v.Revoke(ctx, "SG-0000-0000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke unknown: %v, want ErrNotFound", err)
	}
}

func TestEndToEndLevelsNotServed(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	d, f := storeOne(t, v, 3, "a.pdf", []byte("content"))
	if _, _, err := v.OpenFile(context.Background(), d.ID(), f.ID); !errors.Is(err, ErrEndToEnd) {
		t.Errorf("OpenFile on level 3: %v, want ErrEndToEnd", err)
	}
	if _, _, err := v.OpenFile(context.Background(), d.ID(), "nope"); !errors.Is(err, ErrEndToEnd) && !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenFile unknown file: %v", err)
	}
}

func TestOpenFileUnknown(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	d, f := storeOne(t, v, 1, "a.pdf", []byte("content"))
	for _, ids := range [][2]string{{d.ID(), "nope"}, {"SG-0000-0000", f.ID}, {"", ""}, {d.ID() + "/" + f.ID, ""}} {
		if _, _, err := v.OpenFile(context.Background(), ids[0], ids[1]); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenFile(%q, %q): %v, want ErrNotFound", ids[0], ids[1], err)
		}
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	v, clock, dir := openTestVault(t)
	ctx := context.Background()
	old, _ := storeOne(t, v, 1, "old.pdf", []byte("old"))
	revoked, _ := storeOne(t, v, 1, "revoked.pdf", []byte("revoked"))
	if err := v.Revoke(ctx, revoked.ID()); err != nil {
		t.Fatal(err)
	}
	clock.Set(clock.Now().AddDate(0, 0, 10))
	fresh, _ := storeOne(t, v, 1, "fresh.pdf", []byte("fresh"))

	asOf := old.ExpiresAt()
	rep, err := v.Purge(ctx, asOf, true)
	if err != nil || len(rep.Transfers) != 2 || rep.Files != 2 {
		t.Fatalf("dry run: %+v, %v", rep, err)
	}
	if _, err := v.TransferByToken(ctx, old.Token()); err != nil {
		t.Fatalf("dry run removed something: %v", err)
	}
	rep, err = v.Purge(ctx, asOf, false)
	if err != nil || len(rep.Transfers) != 2 {
		t.Fatalf("purge: %+v, %v", rep, err)
	}
	for _, d := range []*Draft{old, revoked} {
		if _, err := v.TransferByToken(ctx, d.Token()); !errors.Is(err, ErrNotFound) {
			t.Errorf("purged transfer: %v, want ErrNotFound", err)
		}
	}
	if _, err := v.TransferByToken(ctx, fresh.Token()); err != nil {
		t.Errorf("fresh transfer: %v", err)
	}
	// Only the fresh transfer's entries remain.
	counts := dbEntries(t, v)
	for _, b := range []string{"transfers", "tokens", "codes", "sendertokens", "files", "keypackets"} {
		if counts[b] != 1 {
			t.Errorf("bucket %s holds %d entries after purge, want 1", b, counts[b])
		}
	}
	if n := len(storageFiles(t, dir)); n != 4 { // db, two keys, the fresh blob
		t.Errorf("storage holds %d files after purge, want 4", n)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	if err := v.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if err := v.Ping(context.Background()); err == nil {
		t.Fatal("Ping on a closed vault succeeded")
	}
}
