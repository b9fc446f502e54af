package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	bolt "go.etcd.io/bbolt"
)

// TestE2EOneRecipient: a recipient whose key was made in the browser (v6,
// X25519, asking for AEAD-GCM) gets a SEIPDv2 file with a single v6 key
// packet, for their key only: the gateway cannot open it, and the server
// does not serve its plaintext.
func TestE2EOneRecipient(t *testing.T) {
	t.Parallel()
	v, _, dir := openTestVault(t)
	ctx := context.Background()
	alice := browserKey(t, "alice@example.net")
	setKey(t, v, "alice@example.net", alice)
	content := bytes.Repeat([]byte("Steuerbescheid 2024\n"), 30000) // several AEAD chunks

	d, f := storeE2E(t, v, content, "Alice@Example.net")
	if fr := storedFile(t, v, d.ID(), f.ID); fr.Format != formatSEIPDv2 {
		t.Fatalf("format %q, want %q", fr.Format, formatSEIPDv2)
	}
	if ps := storedPackets(t, v, d.ID(), f.ID); len(ps) != 1 || ps[keyIDOf(t, alice.secret)] == nil {
		t.Fatalf("key packets %v, want Alice's only", slices.Collect(mapKeys(ps)))
	}
	msg := openMessage(t, v, d.ID(), f.ID, "alice@example.net")
	if pk, se := packetVersions(t, msg); !slices.Equal(pk, []int{6}) || se != 2 {
		t.Fatalf("message has PKESK versions %v and SEIPD v%d, want [6] and v2", pk, se)
	}
	if got := decryptWith(t, msg, openpgp.EntityList{alice.secret}); !bytes.Equal(got, content) {
		t.Fatal("Alice decrypted different content")
	}
	if _, err := tryDecrypt(msg, gatewayRing(t, dir)); err == nil {
		t.Fatal("the gateway's key opened a level-3 file whose recipient has a key")
	}
	if _, _, err := v.OpenFile(ctx, d.ID(), f.ID); !errors.Is(err, ErrEndToEnd) {
		t.Fatalf("OpenFile: %v, want ErrEndToEnd", err)
	}
	info, err := v.TransferByID(ctx, d.ID())
	if err != nil {
		t.Fatal(err)
	}
	want := []KeyRef{{ID: keyIDOf(t, alice.secret), Recipients: []string{"alice@example.net"}}}
	if !reflect.DeepEqual(info.FileKeys[f.ID], want) || info.FileFormats[f.ID] != formatSEIPDv2 {
		t.Fatalf("admin view: keys %+v format %q", info.FileKeys[f.ID], info.FileFormats[f.ID])
	}
}

// TestE2ETwoRecipients: one browser key and one key that asks for SEIPDv1
// only (as GnuPG's do): the file is SEIPDv1 with v3 key packets, each
// recipient's message carries only their own key packet, and each opens
// with their key alone.
func TestE2ETwoRecipients(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	alice := browserKey(t, "alice@example.net")
	bob := classicKey(t, "bob@example.com")
	setKey(t, v, "alice@example.net", alice)
	setKey(t, v, "bob@example.com", bob)
	content := []byte("Bescheid für zwei")

	d, f := storeE2E(t, v, content, "alice@example.net", "bob@example.com")
	if fr := storedFile(t, v, d.ID(), f.ID); fr.Format != formatSEIPDv1 {
		t.Fatalf("format %q, want %q", fr.Format, formatSEIPDv1)
	}
	if ps := storedPackets(t, v, d.ID(), f.ID); len(ps) != 2 {
		t.Fatalf("%d key packets, want 2 (no gateway packet)", len(ps))
	}
	for _, r := range []struct {
		email      string
		key, other testKey
	}{{"alice@example.net", alice, bob}, {"bob@example.com", bob, alice}} {
		msg := openMessage(t, v, d.ID(), f.ID, r.email)
		if pk, se := packetVersions(t, msg); !slices.Equal(pk, []int{3}) || se != 1 {
			t.Fatalf("%s: PKESK versions %v, SEIPD v%d; want [3], v1", r.email, pk, se)
		}
		if got := decryptWith(t, msg, openpgp.EntityList{r.key.secret}); !bytes.Equal(got, content) {
			t.Fatalf("%s decrypted different content", r.email)
		}
		if _, err := tryDecrypt(msg, openpgp.EntityList{r.other.secret}); err == nil {
			t.Fatalf("%s's message opened with the other recipient's key", r.email)
		}
	}
	if _, _, err := v.OpenMessage(context.Background(), d.ID(), f.ID, "mallory@example.org"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenMessage for a non-recipient: %v, want ErrNotFound", err)
	}
}

// TestE2EPendingThenRewrap is the re-wrap proof: a file for a recipient
// with a key and one without is SEIPDv1 and also wrapped for the gateway;
// when the pending recipient sets a key, their key packet is added, the
// gateway's is deleted (gone from the disk too), and the blob is byte for
// byte what it was.
func TestE2EPendingThenRewrap(t *testing.T) {
	t.Parallel()
	v, _, dir := openTestVault(t)
	ctx := context.Background()
	alice := browserKey(t, "alice@example.net")
	setKey(t, v, "alice@example.net", alice)
	content := bytes.Repeat([]byte("Anlage zum Bescheid\n"), 5000)

	d, f := storeE2E(t, v, content, "alice@example.net", "bob@example.com")
	gwID := v.keys.Load().keyID
	if fr := storedFile(t, v, d.ID(), f.ID); fr.Format != formatSEIPDv1 {
		t.Fatalf("format with a pending recipient %q, want %q (they may bring a GnuPG key)", fr.Format, formatSEIPDv1)
	}
	before := storedPackets(t, v, d.ID(), f.ID)
	gwPacket := before[gwID]
	if len(before) != 2 || gwPacket == nil {
		t.Fatalf("key packets %v, want Alice's and the gateway's", slices.Collect(mapKeys(before)))
	}
	info, _ := v.TransferByID(ctx, d.ID())
	if refs := info.FileKeys[f.ID]; len(refs) != 2 || !hasRef(refs, KeyRef{ID: gwID, Gateway: true, Current: true, Pending: []string{"bob@example.com"}}) {
		t.Fatalf("admin view while pending: %+v", refs)
	}
	if _, _, err := v.OpenMessage(ctx, d.ID(), f.ID, "bob@example.com"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("OpenMessage for the pending recipient: %v, want ErrNoKey", err)
	}
	// While pending, the gateway can open it (that is what pending means).
	all := append(append(bytes.Clone(before[keyIDOf(t, alice.secret)]), gwPacket...), blobBytes(t, v, d.ID(), f.ID)...)
	if got := decryptWith(t, all, gatewayRing(t, dir)); !bytes.Equal(got, content) {
		t.Fatal("gateway opened different content")
	}
	blobBefore := blobSum(t, v, d.ID(), f.ID)

	bob := classicKey(t, "bob@example.com")
	setKey(t, v, "bob@example.com", bob)

	if got := blobSum(t, v, d.ID(), f.ID); got != blobBefore {
		t.Fatal("re-wrapping changed the blob")
	}
	after := storedPackets(t, v, d.ID(), f.ID)
	if len(after) != 2 || after[gwID] != nil || after[keyIDOf(t, bob.secret)] == nil || !bytes.Equal(after[keyIDOf(t, alice.secret)], before[keyIDOf(t, alice.secret)]) {
		t.Fatalf("key packets after Bob's key arrived: %v", slices.Collect(mapKeys(after)))
	}
	for email, k := range map[string]testKey{"alice@example.net": alice, "bob@example.com": bob} {
		if got := decryptWith(t, openMessage(t, v, d.ID(), f.ID, email), openpgp.EntityList{k.secret}); !bytes.Equal(got, content) {
			t.Fatalf("%s decrypted different content", email)
		}
	}
	all = append(bytes.Clone(after[keyIDOf(t, alice.secret)]), after[keyIDOf(t, bob.secret)]...)
	if _, err := tryDecrypt(append(all, blobBytes(t, v, d.ID(), f.ID)...), gatewayRing(t, dir)); err == nil {
		t.Fatal("the gateway still opens the file after every recipient has a key")
	}
	// The deleted packet is gone from the disk, not only from the index.
	if found := findInStorage(t, dir, map[string][]byte{"gateway key packet": gwPacket}); len(found) != 0 {
		t.Fatalf("the gateway's key packet is still on disk: %v", found)
	}
	info, _ = v.TransferByID(ctx, d.ID())
	for _, r := range info.FileKeys[f.ID] {
		if r.Gateway {
			t.Fatalf("admin view still lists a gateway key: %+v", info.FileKeys[f.ID])
		}
	}
}

// TestE2EAllPendingThenOneArrives: with two pending recipients the gateway
// keeps its packet until the second one sets a key.
func TestE2EAllPendingThenOneArrives(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	content := []byte("zwei ohne Schlüssel")
	d, f := storeE2E(t, v, content, "a@example.net", "b@example.net")
	gwID := v.keys.Load().keyID
	if ps := storedPackets(t, v, d.ID(), f.ID); len(ps) != 1 || ps[gwID] == nil {
		t.Fatalf("packets with everyone pending: %v", slices.Collect(mapKeys(ps)))
	}
	a, b := browserKey(t, "a"), browserKey(t, "b")
	setKey(t, v, "a@example.net", a)
	if ps := storedPackets(t, v, d.ID(), f.ID); len(ps) != 2 || ps[gwID] == nil {
		t.Fatalf("after the first key: %v, want A's and the gateway's", slices.Collect(mapKeys(ps)))
	}
	setKey(t, v, "b@example.net", b)
	if ps := storedPackets(t, v, d.ID(), f.ID); len(ps) != 2 || ps[gwID] != nil {
		t.Fatalf("after the second key: %v, want A's and B's", slices.Collect(mapKeys(ps)))
	}
	// SEIPDv1 stays: the blob was written while they were pending.
	msg := openMessage(t, v, d.ID(), f.ID, "b@example.net")
	if pk, se := packetVersions(t, msg); !slices.Equal(pk, []int{3}) || se != 1 {
		t.Fatalf("PKESK %v SEIPD v%d", pk, se)
	}
	if got := decryptWith(t, msg, openpgp.EntityList{b.secret}); !bytes.Equal(got, content) {
		t.Fatal("different content")
	}
}

// TestE2EKeyArrivesWhileStoring: a key set while a file is being encrypted
// (after its format was chosen, before it was recorded) is wrapped for as
// the file is recorded, and the gateway keeps no packet.
func TestE2EKeyArrivesWhileStoring(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	bob := browserKey(t, "bob")
	signIn(t, v, "bob@example.com")
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 3, Sender: "clerk@example.org", Recipients: []string{"bob@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("x"), 3*readChunk)
	r := &hookReader{r: bytes.NewReader(content), hook: func() {
		if err := v.SetAccountKey(ctx, "bob@example.com", bob.upload); err != nil {
			t.Errorf("SetAccountKey: %v", err)
		}
	}}
	f, err := d.AddFile(ctx, "a.bin", "", r)
	if err != nil {
		t.Fatal(err)
	}
	ps := storedPackets(t, v, d.ID(), f.ID)
	if len(ps) != 1 || ps[keyIDOf(t, bob.secret)] == nil {
		t.Fatalf("packets %v, want Bob's only", slices.Collect(mapKeys(ps)))
	}
	if got := decryptWith(t, openMessage(t, v, d.ID(), f.ID, "bob@example.com"), openpgp.EntityList{bob.secret}); !bytes.Equal(got, content) {
		t.Fatal("different content")
	}
}

// hookReader calls hook once, at its second read.
type hookReader struct {
	r     io.Reader
	n     int
	hook  func()
	fired bool
}

func (h *hookReader) Read(p []byte) (int, error) {
	h.n++
	if h.n == 2 && !h.fired {
		h.fired = true
		h.hook()
	}
	return h.r.Read(p)
}

// TestE2EResetKey: replacing a key makes files wrapped only for the old
// key unreadable (and says so), while files the gateway still holds are
// re-wrapped for the new key.
func TestE2EResetKey(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	old := browserKey(t, "alice old")
	setKey(t, v, "alice@example.net", old)
	only, onlyFile := storeE2E(t, v, []byte("nur für Alice"), "alice@example.net")
	shared, sharedFile := storeE2E(t, v, []byte("Alice und der säumige Bob"), "alice@example.net", "bob@example.com")

	fresh := browserKey(t, "alice new")
	if err := v.SetAccountKey(ctx, "alice@example.net", fresh.upload); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("SetAccountKey with a different key: %v, want ErrKeyExists", err)
	}
	if un, _ := v.UnreadableFiles(ctx, only.ID()); len(un) != 0 {
		t.Fatalf("unreadable before the reset: %+v", un)
	}
	if err := v.ResetAccountKey(ctx, "alice@example.net", fresh.upload); err != nil {
		t.Fatal(err)
	}
	un, err := v.UnreadableFiles(ctx, only.ID())
	if err != nil || !reflect.DeepEqual(un, []UnreadableFile{{FileID: onlyFile.ID, Email: "alice@example.net"}}) {
		t.Fatalf("UnreadableFiles: %+v, %v", un, err)
	}
	if _, _, err := v.OpenMessage(ctx, only.ID(), onlyFile.ID, "alice@example.net"); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("OpenMessage of a file for the old key: %v, want ErrUnreadable", err)
	}
	info, _ := v.TransferByID(ctx, only.ID())
	if len(info.Unreadable) != 1 {
		t.Fatalf("admin view: unreadable %+v", info.Unreadable)
	}
	// Bob is still pending on the shared file, so the gateway re-wrapped
	// it for Alice's new key.
	if un, _ := v.UnreadableFiles(ctx, shared.ID()); len(un) != 0 {
		t.Fatalf("shared file unreadable: %+v", un)
	}
	msg := openMessage(t, v, shared.ID(), sharedFile.ID, "alice@example.net")
	if got := decryptWith(t, msg, openpgp.EntityList{fresh.secret}); string(got) != "Alice und der säumige Bob" {
		t.Fatalf("shared file with the new key: %q", got)
	}
	k, err := v.AccountKey(ctx, "alice@example.net")
	if err != nil || k.KeyID != keyIDOf(t, fresh.secret) {
		t.Fatalf("AccountKey after reset: %+v %v", k, err)
	}
}

// TestE2ELevel4Text stores the message text of a level-4 transfer as
// encrypted items that the recipient's key opens.
func TestE2ELevel4Text(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	alice := browserKey(t, "alice")
	setKey(t, v, "alice@example.net", alice)
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 4, Sender: "clerk@example.org", Recipients: []string{"alice@example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("Sehr geehrte Frau A.,\nanbei der Bescheid.\n")
	html := []byte("<p>Sehr geehrte Frau A.,</p><p>anbei \xff der Bescheid.</p>")
	items, err := d.AddText(ctx, plain, html)
	if err != nil || len(items) != 2 || items[0].ID != TextPlainID || items[1].ID != TextHTMLID || items[0].Kind != KindText {
		t.Fatalf("AddText: %+v %v", items, err)
	}
	if _, err := d.AddText(ctx, plain, nil); err == nil {
		t.Fatal("second AddText accepted")
	}
	f, err := d.AddFile(ctx, "a.pdf", "application/pdf", strings.NewReader("pdf"))
	if err != nil || f.Kind != "" {
		t.Fatalf("AddFile: %+v %v", f, err)
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tr, err := v.TransferByToken(ctx, d.Token())
	if err != nil || len(tr.Files) != 3 || tr.Files[0].Kind != KindText || tr.Files[2].Kind != "" {
		t.Fatalf("transfer files: %+v %v", tr.Files, err)
	}
	if got := decryptWith(t, openMessage(t, v, d.ID(), TextPlainID, "alice@example.net"), openpgp.EntityList{alice.secret}); !bytes.Equal(got, plain) {
		t.Fatalf("plain text: %q", got)
	}
	got := decryptWith(t, openMessage(t, v, d.ID(), TextHTMLID, "alice@example.net"), openpgp.EntityList{alice.secret})
	if string(got) != "<p>Sehr geehrte Frau A.,</p><p>anbei \uFFFD der Bescheid.</p>" {
		t.Fatalf("html text: %q", got)
	}

	d3, err := v.BeginTransfer(ctx, NewTransfer{Level: 3, Sender: "clerk@example.org", Recipients: []string{"alice@example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Abort(ctx)
	if _, err := d3.AddText(ctx, plain, nil); err == nil {
		t.Fatal("AddText accepted at level 3")
	}
	if _, err := v.BeginTransfer(ctx, NewTransfer{Level: 3, Sender: "clerk@example.org"}); err == nil {
		t.Fatal("a level-3 transfer without recipients was begun")
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func hasRef(refs []KeyRef, want KeyRef) bool {
	for _, r := range refs {
		if reflect.DeepEqual(r, want) {
			return true
		}
	}
	return false
}

func blobBytes(t *testing.T, v *Vault, transferID, fileID string) []byte {
	t.Helper()
	rc, err := v.blobs.Open(context.Background(), storedFile(t, v, transferID, fileID).BlobID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestE2EDeletionLeavesNoTrace extends the retention byte scans to levels
// 3–4: deleting an account removes its key (public key and both locked
// copies) and the key packets made for it; revoking a transfer and purging
// one remove the recipients' key packets; and a byte scan of storage.dir
// finds none of them afterwards.
func TestE2EDeletionLeavesNoTrace(t *testing.T) {
	t.Parallel()
	v, clock, dir := openTestVault(t)
	ctx := context.Background()
	alice, bob := browserKey(t, "alice"), browserKey(t, "bob")
	setKey(t, v, "alice@example.net", alice)
	setKey(t, v, "bob@example.com", bob)
	stored := func(email string) accountRecord {
		var rec accountRecord
		v.view(func(tx *bolt.Tx) error {
			_, err := getJSON(tx.Bucket(bucketAccounts), []byte(email), &rec)
			return err
		})
		return rec
	}
	b64 := func(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }
	aliceRec, bobRec := stored("alice@example.net"), stored("bob@example.com")

	revoked, rf := storeE2E(t, v, []byte("widerrufen"), "alice@example.net", "bob@example.com")
	clock.Set(clock.Now().AddDate(0, 0, 10))
	purged, pf := storeE2E(t, v, []byte("abgelaufen"), "bob@example.com")
	rp := storedPackets(t, v, revoked.ID(), rf.ID)
	pp := storedPackets(t, v, purged.ID(), pf.ID)
	needles := map[string][]byte{
		"alice public key":      b64(aliceRec.PublicKey),
		"alice passphrase copy": b64(aliceRec.PassphraseKey),
		"alice recovery copy":   b64(aliceRec.RecoveryKey),
		"alice key packet":      rp[keyIDOf(t, alice.secret)],
		"bob key packet":        rp[keyIDOf(t, bob.secret)],
		"bob public key":        b64(bobRec.PublicKey),
		"bob recovery copy":     b64(bobRec.RecoveryKey),
		"bob purged key packet": pp[keyIDOf(t, bob.secret)],
	}
	for name, n := range needles {
		if len(n) == 0 {
			t.Fatalf("no %s to look for", name)
		}
	}
	if found := findInStorage(t, dir, needles); len(found) != len(needles) {
		t.Fatalf("positive control: only %v found before deleting", found)
	}

	if err := v.DeleteAccount(ctx, "alice@example.net"); err != nil {
		t.Fatal(err)
	}
	found := findInStorage(t, dir, needles)
	for name := range needles {
		if _, there := found[name]; there == strings.HasPrefix(name, "alice") {
			t.Errorf("after deleting Alice's account: %q found=%v", name, there)
		}
	}
	if un, _ := v.UnreadableFiles(ctx, revoked.ID()); len(un) != 1 || un[0].Email != "alice@example.net" {
		t.Errorf("UnreadableFiles after the account went: %+v", un)
	}

	if err := v.Revoke(ctx, revoked.ID()); err != nil {
		t.Fatal(err)
	}
	if found := findInStorage(t, dir, needles); found["bob key packet"] != nil || found["bob purged key packet"] == nil {
		t.Fatalf("after revoking: %v", found)
	}

	// Bob stays idle: the second transfer expires at day 70, his account
	// at day 90; a purge at day 91 takes both.
	rep, err := v.Purge(ctx, clock.Now().AddDate(0, 0, 81), false)
	if err != nil || len(rep.Accounts) != 1 || len(rep.Transfers) != 2 {
		t.Fatalf("purge: %+v %v", rep, err)
	}
	if found := findInStorage(t, dir, needles); len(found) != 0 {
		t.Fatalf("after the purge, storage.dir still holds: %v", found)
	}
}

// TestE2ERewrapAfterRotation: a file held for a pending recipient under a
// gateway key that has since been rotated out is re-wrapped with the
// retired key, which Purge then deletes because no key packet names it.
func TestE2ERewrapAfterRotation(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	ctx := context.Background()
	d, f := storeE2E(t, v, []byte("vor der Rotation"), "bob@example.com")
	oldID := v.keys.Load().keyID
	if _, err := v.RotateGatewayKey(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, _ := v.Purge(ctx, clock.Now(), false); len(rep.Keys) != 0 {
		t.Fatalf("purge deleted %v while a pending file still needs it", rep.Keys)
	}
	bob := browserKey(t, "bob")
	setKey(t, v, "bob@example.com", bob)
	if got := decryptWith(t, openMessage(t, v, d.ID(), f.ID, "bob@example.com"), openpgp.EntityList{bob.secret}); string(got) != "vor der Rotation" {
		t.Fatalf("got %q", got)
	}
	rep, err := v.Purge(ctx, clock.Now(), false)
	if err != nil || len(rep.Keys) != 1 || rep.Keys[0] != oldID {
		t.Fatalf("purge after the re-wrap: %+v %v, want the retired key %s deleted", rep, err, oldID)
	}
}
