//go:build !linux

package vault

import (
	"errors"
	"os"
)

// startWriteback is a no-op where sync_file_range does not exist; the final
// fsync then does all the work.
func startWriteback(*os.File, int64, int64) {}

// directFile is only implemented on Linux; elsewhere blobs are written
// through the page cache.
type directFile struct{ f *os.File }

type bufferPool struct{}

func newDirectPool() bufferPool { return bufferPool{} }

func openDirect(string, bufferPool) (*directFile, error) { return nil, nil }

func (*directFile) Write([]byte) (int, error) { return 0, errors.New("vault: O_DIRECT unsupported") }

func (*directFile) finish() error { return errors.New("vault: O_DIRECT unsupported") }

func (*directFile) abandon() {}
