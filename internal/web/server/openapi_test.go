package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/web/server"
)

// TestOpenAPIDescribesEveryRoute fails when a route is added without being
// documented (or documented without existing).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	s := server.New(server.Options{})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, p := range s.Routes() {
		registered[p] = true
		require.True(t, documented[p], "route %s is not in openapi.json", p)
	}
	for p := range documented {
		require.True(t, registered[p], "openapi.json documents %s, which is not a route", p)
	}
}
