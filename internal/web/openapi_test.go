package web

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenAPIDescribesEveryRoute fails when a route is added without being
// documented (or documented without existing).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openAPIDoc, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))
	s := New(Options{})
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, p := range s.patterns {
		registered[p] = true
		require.True(t, documented[p], "route %s is not in openapi.json", p)
	}
	for p := range documented {
		require.True(t, registered[p], "openapi.json documents %s, which is not a route", p)
	}
}
