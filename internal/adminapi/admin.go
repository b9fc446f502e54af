// Package adminapi is sealgate's admin listener and the admin commands'
// way to it.
//
// bbolt lets one process hold the database, so the admin commands
// (`sealgate transfers|accounts|purge|receipts|keys ...`) work in one of two
// ways behind the same interface, Admin: while `sealgate serve` runs they go
// through its admin listener (Client, authenticated by the secret in
// storage.dir/admin.secret); when it does not run they open the vault
// directly (Local). The server side (NewHandler) serves Local over HTTP,
// so both ways compute every answer with the same code and give the same
// result.
//
// The admin listener also serves /healthz, /readyz and /metrics without the
// secret: keep admin.listen on loopback (the default) or firewall it.
package adminapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sealgate/vault"
)

// ErrInvalid means a request was malformed (an unknown state, an empty
// reference): the caller must change it, retrying will not help.
var ErrInvalid = errors.New("invalid request")

// Admin is what the admin commands can do. Local implements it on an open
// vault, Client through a running server's admin listener.
type Admin interface {
	// Transfers lists the transfers that match f, oldest first.
	Transfers(ctx context.Context, f vault.TransferFilter) ([]Transfer, error)
	// Transfer returns one transfer by reference; vault.ErrNotFound if
	// there is none.
	Transfer(ctx context.Context, id string) (Transfer, error)
	// Revoke withdraws a transfer at once (files and keys deleted) and
	// returns it as it is afterwards.
	Revoke(ctx context.Context, id string) (Transfer, error)
	// Accounts lists every account, ordered by address.
	Accounts(ctx context.Context) ([]Account, error)
	// DeleteAccount deletes an account with its keys, sessions and
	// sign-in code; vault.ErrNotFound if there is none.
	DeleteAccount(ctx context.Context, email string) error
	// Purge applies retention (see vault.Vault.Purge). It sends no mail.
	Purge(ctx context.Context, req PurgeRequest) (PurgeResult, error)
	// RotateKey makes a new gateway key for new transfers.
	RotateKey(ctx context.Context) (KeyRotation, error)
	// ReceiptKey returns the receipt signing key's public key,
	// ASCII-armoured, for verifying receipts.
	ReceiptKey(ctx context.Context) ([]byte, error)
}

// Store is what Local needs from the vault; *vault.Vault implements it.
// cmd may wrap it, for instance to run purges through the retention
// sweeper so that they never overlap and are counted in the metrics.
type Store interface {
	ListTransfers(ctx context.Context, f vault.TransferFilter) ([]vault.TransferInfo, error)
	TransferByID(ctx context.Context, id string) (vault.TransferInfo, error)
	Revoke(ctx context.Context, transferID string) error
	ListAccounts(ctx context.Context) ([]vault.Account, error)
	AccountDeletionDate(a vault.Account) time.Time
	DeleteAccount(ctx context.Context, email string) error
	Purge(ctx context.Context, asOf time.Time, dryRun bool) (vault.PurgeReport, error)
	RotateGatewayKey(ctx context.Context) (string, error)
	ReceiptPublicKey() []byte
}

// Local carries out admin commands on an open vault.
type Local struct {
	Store Store
	// Now is the clock for purges without a time; nil means time.Now.
	Now func() time.Time
}

var _ Admin = (*Local)(nil)

var states = []string{vault.StateDraft, vault.StateCommitted, vault.StateRevoked, vault.StateExpired, vault.StateLocked}

// Transfers implements Admin.
func (l *Local) Transfers(ctx context.Context, f vault.TransferFilter) ([]Transfer, error) {
	if f.State != "" && !slices.Contains(states, f.State) {
		return nil, fmt.Errorf("state %q: use one of %s: %w", f.State, strings.Join(states, ", "), ErrInvalid)
	}
	infos, err := l.Store.ListTransfers(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]Transfer, 0, len(infos))
	for _, info := range infos {
		out = append(out, transferView(info))
	}
	return out, nil
}

// Transfer implements Admin.
func (l *Local) Transfer(ctx context.Context, id string) (Transfer, error) {
	if strings.TrimSpace(id) == "" {
		return Transfer{}, fmt.Errorf("a transfer reference is required: %w", ErrInvalid)
	}
	info, err := l.Store.TransferByID(ctx, id)
	if errors.Is(err, vault.ErrNotFound) {
		return Transfer{}, fmt.Errorf("no transfer %s: %w", strings.TrimSpace(id), err)
	}
	if err != nil {
		return Transfer{}, err
	}
	return transferView(info), nil
}

// Revoke implements Admin.
func (l *Local) Revoke(ctx context.Context, id string) (Transfer, error) {
	if _, err := l.Transfer(ctx, id); err != nil {
		return Transfer{}, err
	}
	if err := l.Store.Revoke(ctx, id); err != nil {
		return Transfer{}, err
	}
	return l.Transfer(ctx, id)
}

// Accounts implements Admin.
func (l *Local) Accounts(ctx context.Context) ([]Account, error) {
	as, err := l.Store.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(as))
	for _, a := range as {
		out = append(out, accountView(a, l.Store.AccountDeletionDate(a)))
	}
	return out, nil
}

// DeleteAccount implements Admin.
func (l *Local) DeleteAccount(ctx context.Context, email string) error {
	e, err := vault.NormalizeEmail(email)
	if err != nil {
		return fmt.Errorf("%q is not an e-mail address: %w", email, ErrInvalid)
	}
	err = l.Store.DeleteAccount(ctx, e)
	if errors.Is(err, vault.ErrNotFound) {
		return fmt.Errorf("no account %s: %w", e, err)
	}
	return err
}

// Purge implements Admin.
func (l *Local) Purge(ctx context.Context, req PurgeRequest) (PurgeResult, error) {
	asOf := req.AsOf
	if asOf.IsZero() {
		asOf = l.now()
	}
	rep, err := l.Store.Purge(ctx, asOf, req.DryRun)
	if err != nil {
		return PurgeResult{}, err
	}
	return purgeView(rep, asOf, req.DryRun), nil
}

// RotateKey implements Admin.
func (l *Local) RotateKey(ctx context.Context) (KeyRotation, error) {
	id, err := l.Store.RotateGatewayKey(ctx)
	if err != nil {
		return KeyRotation{}, err
	}
	return KeyRotation{KeyID: id}, nil
}

// ReceiptKey implements Admin.
func (l *Local) ReceiptKey(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return l.Store.ReceiptPublicKey(), nil
}

func (l *Local) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}
