package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// checkOwner refuses to work on storage.dir as a user other than its owner.
// The database is rewritten on every change (compaction after deletions)
// and key files are created by rotation: done as root, they would end up
// owned by root, and the service's own user could no longer open them.
func checkOwner(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a new directory is made by whoever runs sealgate serve
	}
	if err != nil {
		return fmt.Errorf("storage.dir: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); uid == int(st.Uid) {
		return nil
	}
	name := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return fmt.Errorf("storage.dir %s belongs to user %s: run sealgate as that user (e.g. sudo -u %s sealgate ...), "+
		"or files it writes would be unreadable for the service", dir, name, name)
}
