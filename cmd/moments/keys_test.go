package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestKeysCreateServer: --server makes a server write key, listed as such;
// it applies to write keys only.
func TestKeysCreateServer(t *testing.T) {
	t.Parallel()
	cfg := storetest.Config(t, store.SQLite)
	keys := func(args ...string) result {
		t.Helper()
		return run(t, "", append(append([]string{"keys"}, args...), dbFlags(cfg)...)...)
	}
	res := keys("create", "--scope", "write", "--server", "--name", "billing backend")
	require.Zero(t, res.code, res.err)
	require.True(t, strings.HasPrefix(strings.TrimSpace(res.stdout), "mks_"), res.stdout)
	require.Contains(t, res.stderr, "created server write key")

	res = keys("create", "--scope", "admin", "--server")
	require.NotZero(t, res.code)
	require.ErrorContains(t, res.err, "--server applies to write keys only")

	res = keys("list")
	require.Zero(t, res.code, res.err)
	require.Regexp(t, `write \(server\)\s+billing backend`, res.stdout)
}
