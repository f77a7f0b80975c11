//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockData takes the lock on moments.lock in the data directory: shared
// for every process that opens the database, exclusive for a restore.
// flock is released by the kernel when the process ends, so a crashed
// server never leaves a stale lock.
func lockData(dir string, exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "moments.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the data directory's lock: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if exclusive {
				return nil, ErrDatabaseInUse
			}
			return nil, errors.New("a restore is replacing the database in this data directory: wait for it to finish")
		}
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	return func() { f.Close() }, nil
}
