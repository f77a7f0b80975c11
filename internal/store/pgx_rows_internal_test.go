package store

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPgxRowInt64 reads a BIGINT as PostgreSQL sends it in either format
// (binary: 8 bytes big-endian; text: digits) and refuses a value that is
// not one.
func TestPgxRowInt64(t *testing.T) {
	r := pgxRow{values: [][]byte{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, []byte("1733054400000000"), {1, 2}},
		fields: []pgconnField{{binary: true}, {binary: false}, {binary: true}}}
	v, err := r.int64(0)
	require.NoError(t, err)
	require.Equal(t, int64(-2), v)
	v, err = r.int64(1)
	require.NoError(t, err)
	require.Equal(t, int64(1733054400000000), v)
	_, err = r.int64(2)
	require.Error(t, err)
}
