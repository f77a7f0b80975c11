package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/web/webtest"
)

// TestOpenAPIDocumentIsUnchanged compares the document served at
// /api/v1/openapi.json byte for byte with testdata/openapi.json, so a change
// to the API's published contract is always a deliberate one (rewrite the
// golden file with -update).
func TestOpenAPIDocumentIsUnchanged(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	status, contentType, body := f.GetRaw(t, "/api/v1/openapi.json", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "application/json", contentType)
	webtest.Golden(t, "openapi.json", body)
}
