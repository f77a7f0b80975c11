package api_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/moments-cs/moments/internal/web/webtest"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
)

// TestOpenAPIDocumentIsUnchanged compares the document served at
// /api/v1/openapi.json byte for byte with testdata/openapi.json, so a change
// to the API's published contract is always a deliberate one (rewrite the
// golden file with -update).
func TestOpenAPIDocumentIsUnchanged(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	res, err := http.Get(f.URL + "/api/v1/openapi.json")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	webtest.Golden(t, "openapi.json", body)
}
