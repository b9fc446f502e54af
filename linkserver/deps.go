package linkserver

import (
	"context"
	"io"
	"time"

	"sealgate/vault"
)

// Vault is what the link server needs from the store. *vault.Vault satisfies
// it; the interface keeps the handlers testable against injected failures.
type Vault interface {
	TransferByToken(ctx context.Context, token string) (vault.Transfer, error)
	TokenForAccessCode(ctx context.Context, code string) (string, error)
	OpenFile(ctx context.Context, transferID, fileID string) (io.ReadCloser, vault.File, error)

	// Sign-in and sessions.
	StartLogin(ctx context.Context, email string) (string, error)
	VerifyLogin(ctx context.Context, email, code string) (bool, error)
	TouchAccount(ctx context.Context, email, lang string) (vault.Account, error)
	NewSession(ctx context.Context, email string) (string, error)
	SessionEmail(ctx context.Context, token string) (string, error)
	EndSession(ctx context.Context, token string) error
	RecordFailedCode(ctx context.Context, transferID string) (locked, justLocked bool, err error)

	// The clerk's status page.
	TransferBySenderToken(ctx context.Context, token string) (vault.Transfer, error)
	Downloads(ctx context.Context, transferID string) ([]vault.Download, error)
	Revoke(ctx context.Context, transferID string) error

	// Download records and receipts.
	RecordDownload(ctx context.Context, transferID, fileID, email string, at time.Time) (bool, error)
	SignReceipt(ctx context.Context, text string) (string, error)
	ReceiptPublicKey() []byte

	// Levels 3–4: the recipient's key and the OpenPGP messages made for it.
	AccountKey(ctx context.Context, email string) (vault.KeyInfo, error)
	SetAccountKey(ctx context.Context, email string, u vault.KeyUpload) error
	ResetAccountKey(ctx context.Context, email string, u vault.KeyUpload) error
	OpenMessage(ctx context.Context, transferID, fileID, recipientEmail string) (io.ReadCloser, vault.File, error)
	UnreadableFiles(ctx context.Context, transferID string) ([]vault.UnreadableFile, error)
}

var _ Vault = (*vault.Vault)(nil)
