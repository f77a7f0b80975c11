package api

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
)

// openAPIFiles hold the OpenAPI document in parts: base.json has the info,
// security schemes and shared schemas; every other file adds the paths (and
// schemas) of one area of the API, so each capability documents its own
// endpoints. web/server/openapi_test.go fails when a route is registered without
// being documented.
//
//go:embed openapi/*.json
var openAPIFiles embed.FS

// openAPIDoc is the merged document, built once.
var openAPIDoc = mustMergeOpenAPI()

func mustMergeOpenAPI() []byte {
	doc, err := mergeOpenAPI(openAPIFiles)
	if err != nil {
		panic(err) // the files are embedded: a broken one fails every test
	}
	return doc
}

func mergeOpenAPI(fsys fs.FS) ([]byte, error) {
	var base map[string]any
	raw, err := fs.ReadFile(fsys, "openapi/base.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &base); err != nil {
		return nil, fmt.Errorf("openapi/base.json: %w", err)
	}
	paths := base["paths"].(map[string]any)
	schemas := base["components"].(map[string]any)["schemas"].(map[string]any)
	names, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "openapi/base.json" {
			continue
		}
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var part struct {
			Paths      map[string]map[string]any `json:"paths"`
			Components struct {
				Schemas map[string]any `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(raw, &part); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for p, ops := range part.Paths {
			existing, _ := paths[p].(map[string]any)
			if existing == nil {
				existing = map[string]any{}
			}
			for method, op := range ops {
				if _, dup := existing[method]; dup {
					return nil, fmt.Errorf("%s: %s %s is documented twice", name, method, p)
				}
				existing[method] = op
			}
			paths[p] = existing
		}
		for k, v := range part.Components.Schemas {
			if _, dup := schemas[k]; dup {
				return nil, fmt.Errorf("%s: schema %s is defined twice", name, k)
			}
			schemas[k] = v
		}
	}
	return json.MarshalIndent(base, "", "  ")
}

// serveOpenAPI answers with the merged document.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}
