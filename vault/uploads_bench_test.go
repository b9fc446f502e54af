package vault

import (
	"context"
	"testing"
)

// BenchmarkWriteUploadFile measures storing an uploaded file as it
// arrives (64 MiB in one request: encrypting, writing parts, recording
// them) and accepting it (decrypting and hashing it once).
func BenchmarkWriteUploadFile(b *testing.B) {
	v, _, _ := openTestVault(b)
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 2, Sender: "clerk@example.org", Recipients: []string{"citizen@example.net"}, Upload: true})
	if err != nil {
		b.Fatal(err)
	}
	token, _ := d.UploadToken(ctx, "citizen@example.net")
	d.Commit(ctx)
	const size = 64 << 20
	b.SetBytes(size)
	for b.Loop() {
		up, err := v.StartUpload(ctx, token, "citizen@example.net")
		if err != nil {
			b.Fatal(err)
		}
		f, err := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "x", Size: size}, UploadLimits{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.WriteUploadFile(ctx, up.ID, f.ID, UploadChunk{Body: pseudoRandom(1, size)}); err != nil {
			b.Fatal(err)
		}
		if _, err := v.FinishUploadFile(ctx, up.ID, f.ID, nil); err != nil {
			b.Fatal(err)
		}
		if err := v.DeleteUploadFile(ctx, up.ID, f.ID); err != nil {
			b.Fatal(err)
		}
	}
}
