package vault

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestSenderToken(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 2, Sender: "Clerk@Example.org", Recipients: []string{"anna@example.net", "bcc@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := d.AddFile(ctx, "a.pdf", "", strings.NewReader("a"))
	d.Commit(ctx)

	if d.SenderToken() == d.Token() || !wellFormedToken(d.SenderToken()) {
		t.Fatalf("sender token %q", d.SenderToken())
	}
	tr, err := v.TransferBySenderToken(ctx, d.SenderToken())
	if err != nil || tr.ID != d.ID() || len(tr.Files) != 1 || len(tr.Recipients) != 2 {
		t.Fatalf("TransferBySenderToken = %+v, %v", tr, err)
	}
	// The two tokens open different doors.
	if _, err := v.TransferByToken(ctx, d.SenderToken()); !errors.Is(err, ErrNotFound) {
		t.Errorf("sender token as link token: %v", err)
	}
	if _, err := v.TransferBySenderToken(ctx, d.Token()); !errors.Is(err, ErrNotFound) {
		t.Errorf("link token as sender token: %v", err)
	}

	if !IsRecipient(tr, "BCC@example.com ") || !IsRecipient(tr, "anna@example.net") || IsRecipient(tr, "clerk@example.org") || IsRecipient(tr, "") {
		t.Error("IsRecipient")
	}
	if !IsSender(tr, "clerk@EXAMPLE.org") || IsSender(tr, "anna@example.net") || IsSender(tr, "") {
		t.Error("IsSender")
	}

	// After revocation the clerk still sees the transfer, its withdrawn
	// file included; recipients get ErrRevoked.
	if err := v.Revoke(ctx, d.ID()); err != nil {
		t.Fatal(err)
	}
	tr, err = v.TransferBySenderToken(ctx, d.SenderToken())
	if err != nil || tr.RevokedAt.IsZero() || len(tr.Files) != 1 || tr.Files[0].ID != f.ID {
		t.Errorf("sender view after revocation: %+v, %v", tr, err)
	}
	if _, err := v.TransferByToken(ctx, d.Token()); !errors.Is(err, ErrRevoked) {
		t.Errorf("link after revocation: %v", err)
	}
	clock.Set(d.ExpiresAt())
	if _, err := v.TransferBySenderToken(ctx, d.SenderToken()); !errors.Is(err, ErrExpired) {
		t.Errorf("sender view after expiry: %v", err)
	}
}
