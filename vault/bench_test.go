package vault

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// The Makefile reports the ratio of BenchmarkAddFile100MiB to
// BenchmarkRawEncrypt100MiB (MB/s against MB/s; target >= 0.5). Both
// encrypt the same 100 MiB with the same SEIPDv2 parameters, fed in the
// same chunk size; AddFile also hashes, writes, and fsyncs.

const benchSize = 100 * mib

var benchData = func() []byte {
	b, _ := io.ReadAll(pseudoRandom(42, benchSize))
	return b
}()

// onlyReader hides bytes.Reader's WriteTo so that every reader is consumed
// the way a network stream is.
type onlyReader struct{ io.Reader }

// BenchmarkAddFile100MiB stores 100 MiB as a level-1 file: encryption,
// SHA-256, writing and fsync. B/op shows that memory does not grow with
// the file.
func BenchmarkAddFile100MiB(b *testing.B) {
	v, _, _ := openTestVault(b)
	ctx := context.Background()
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		d, err := v.BeginTransfer(ctx, NewTransfer{Level: 1})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.AddFile(ctx, "bench.bin", "", onlyReader{bytes.NewReader(benchData)}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := d.Abort(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkRawEncrypt100MiB is the baseline: go-crypto's SEIPDv2
// (AES-256-GCM) encryption of the same bytes to io.Discard, nothing else.
func BenchmarkRawEncrypt100MiB(b *testing.B) {
	key, _ := newSessionKey()
	cfg := &packet.Config{AEADConfig: &packet.AEADConfig{DefaultMode: packet.AEADModeGCM, ChunkSize: aeadChunkSize}}
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		w, err := packet.SerializeSymmetricallyEncrypted(io.Discard, packet.CipherAES256, true, fileCipherSuite, key, cfg)
		if err != nil {
			b.Fatal(err)
		}
		lit, err := packet.SerializeLiteral(w, true, "", 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(lit, onlyReader{bytes.NewReader(benchData)}, make([]byte, readChunk)); err != nil {
			b.Fatal(err)
		}
		if err := lit.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// onlyWriter hides io.Discard's ReadFrom, so reads happen in the 32 KiB
// steps net/http uses to copy a response body.
type onlyWriter struct{ io.Writer }

// BenchmarkOpenFile reads a stored 100 MiB file back (decryption,
// authentication, length check), as a level-1 download does.
func BenchmarkOpenFile(b *testing.B) {
	v, _, _ := openTestVault(b)
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 1})
	if err != nil {
		b.Fatal(err)
	}
	f, err := d.AddFile(ctx, "bench.bin", "", bytes.NewReader(benchData))
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		rc, _, err := v.OpenFile(ctx, d.ID(), f.ID)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(onlyWriter{io.Discard}, rc, buf)
		rc.Close()
		if err != nil || n != benchSize {
			b.Fatalf("read %d, %v", n, err)
		}
	}
}

// BenchmarkCompact measures one compaction of a database holding 1000
// one-file transfers (records and key packets, no blobs in the database):
// the pause every other database access waits out after a deletion.
func BenchmarkCompact(b *testing.B) {
	v, _, dir := openTestVault(b)
	ctx := context.Background()
	for i := range 1000 {
		d, err := v.BeginTransfer(ctx, NewTransfer{Level: 2, Sender: "clerk@example.org", Recipients: []string{fmt.Sprintf("r%d@example.net", i)}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.AddFile(ctx, fmt.Sprintf("file-%d.pdf", i), "application/pdf", bytes.NewReader([]byte("x"))); err != nil {
			b.Fatal(err)
		}
		d.Commit(ctx)
	}
	b.ResetTimer()
	for range b.N {
		if err := v.compact(); err != nil {
			b.Fatal(err)
		}
	}
	fi, _ := os.Stat(filepath.Join(dir, dbName))
	b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-db")
}

// BenchmarkRewrapOnKeyArrival measures SetAccountKey for a recipient who
// is pending on 100 live level-3 transfers: every file gets a key packet
// for the new key, the gateway's packets go, and the database is
// compacted, all while other database access waits.
func BenchmarkRewrapOnKeyArrival(b *testing.B) {
	const transfers = 100
	k := browserKey(b, "bench")
	for b.Loop() {
		b.StopTimer()
		v, _, _ := openTestVault(b)
		for range transfers {
			storeE2E(b, v, []byte("a small file"), "citizen@example.net")
		}
		signIn(b, v, "citizen@example.net")
		b.StartTimer()
		if err := v.SetAccountKey(context.Background(), "citizen@example.net", k.upload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/transfers, "µs/file")
}
