package web

import (
	_ "embed"
	"net/http"
)

// openAPIDoc describes every endpoint; openapi_test.go fails when a route is
// registered without being documented here.
//
//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}
