package vault

import (
	"context"
	"errors"
	"testing"
)

func TestUploadLinks(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 2, Sender: "clerk@example.org",
		Recipients: []string{"Anna@Example.net", "bert@example.net"}, Upload: true})
	if err != nil {
		t.Fatal(err)
	}
	anna, err := d.UploadToken(ctx, " anna@example.NET")
	if err != nil {
		t.Fatal(err)
	}
	bert, err := d.UploadToken(ctx, "bert@example.net")
	if err != nil {
		t.Fatal(err)
	}
	if len(anna) != tokenLen || anna == bert || anna == d.Token() {
		t.Fatalf("tokens %q %q", anna, bert)
	}
	if _, err := d.UploadToken(ctx, "stranger@example.net"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token for a non-recipient: %v", err)
	}
	if _, err := d.UploadToken(ctx, "not an address"); !errors.Is(err, ErrInvalidAddress) {
		t.Fatalf("token for a non-address: %v", err)
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	l, err := v.UploadByToken(ctx, anna)
	if err != nil {
		t.Fatal(err)
	}
	if l.TransferID != d.ID() || l.Email != "anna@example.net" || l.Level != 2 || l.Sender != "clerk@example.org" ||
		!l.ExpiresAt.Equal(d.ExpiresAt()) || l.Closed {
		t.Fatalf("link %+v", l)
	}
	// Multi-use: looking it up again changes nothing.
	if l2, err := v.UploadByToken(ctx, anna); err != nil || l2 != l {
		t.Fatalf("second look-up: %+v %v", l2, err)
	}
	other := anna[:42] + "A" // another well-formed token
	if other == anna {
		other = anna[:42] + "Q"
	}
	for _, bad := range []string{"", "short", d.Token(), d.SenderToken(), other} {
		if _, err := v.UploadByToken(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("UploadByToken(%q): %v", bad, err)
		}
	}

	// The clerk closes Anna's link; Bert's keeps working.
	if err := v.CloseUploadLink(ctx, d.ID(), "ANNA@example.net"); err != nil {
		t.Fatal(err)
	}
	if err := v.CloseUploadLink(ctx, d.ID(), "anna@example.net"); err != nil {
		t.Fatalf("closing twice: %v", err)
	}
	l, err = v.UploadByToken(ctx, anna)
	if !errors.Is(err, ErrUploadClosed) || !l.Closed || l.Sender != "clerk@example.org" || l.ClosedAt.IsZero() {
		t.Fatalf("closed link: %+v %v", l, err)
	}
	if _, err := v.UploadByToken(ctx, bert); err != nil {
		t.Fatalf("Bert's link: %v", err)
	}
	if err := v.CloseUploadLink(ctx, d.ID(), "stranger@example.net"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("closing a link that does not exist: %v", err)
	}
	links, err := v.UploadLinks(ctx, d.ID())
	if err != nil || len(links) != 2 || links[0].Email != "anna@example.net" || !links[0].Closed || links[1].Closed {
		t.Fatalf("UploadLinks: %+v %v", links, err)
	}

	// A new token for Bert replaces the old one.
	// (Only possible on a draft; make another transfer to check.)
	d2, _ := v.BeginTransfer(ctx, NewTransfer{Level: 1, Sender: "clerk@example.org", Recipients: []string{"c@example.net"}, Upload: true})
	old, _ := d2.UploadToken(ctx, "c@example.net")
	fresh, err := d2.UploadToken(ctx, "c@example.net")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.UploadByToken(ctx, old); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replaced token: %v", err)
	}
	if _, err := v.UploadByToken(ctx, fresh); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	d2.Commit(ctx)

	// Expiry and revocation as for the transfer.
	if err := v.Revoke(ctx, d2.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.UploadByToken(ctx, fresh); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked: %v", err)
	}
	clock.Set(d.ExpiresAt())
	if _, err := v.UploadByToken(ctx, bert); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	// Purge removes the links with the transfer.
	if _, err := v.Purge(ctx, clock.Now(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := v.UploadByToken(ctx, bert); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after purge: %v", err)
	}
	if _, err := v.UploadLinks(ctx, d.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("links after purge: %v", err)
	}
}

func TestUploadTokenAfterCommit(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 1, Sender: "clerk@example.org", Recipients: []string{"c@example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	d.Commit(ctx)
	if _, err := d.UploadToken(ctx, "c@example.net"); !errors.Is(err, errDraftDone) {
		t.Fatalf("after commit: %v", err)
	}
}
