//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import "errors"

// lockData cannot tell on this system whether the database is in use, so
// opening never locks and restoring is refused.
func lockData(_ string, exclusive bool) (func(), error) {
	if exclusive {
		return nil, errors.New("moments restore is supported on Linux, macOS and the BSDs; elsewhere stop the server and copy the backup over moments.db")
	}
	return func() {}, nil
}
