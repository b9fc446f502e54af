package linkserver

import (
	"context"
	"io"

	"sealgate/vault"
)

// Vault is what the link server needs from the store. *vault.Vault satisfies
// it; the interface keeps the handlers testable against injected failures.
type Vault interface {
	TransferByToken(ctx context.Context, token string) (vault.Transfer, error)
	TokenForAccessCode(ctx context.Context, code string) (string, error)
	OpenFile(ctx context.Context, transferID, fileID string) (io.ReadCloser, vault.File, error)
}
