package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImportsPointDown reads the module's import graph (the packages'
// own imports, not their tests') and fails on an unassigned package or an
// import of a package on a higher layer, printing the offending import.
func TestImportsPointDown(t *testing.T) {
	t.Parallel()
	graph := moduleGraph(t)
	require.Contains(t, graph, "internal/app", "the graph holds the module's packages")
	for _, p := range Check(Layers, graph) {
		t.Error(p)
	}
}

// TestCheck shows, on synthetic graphs, what the architecture test
// accepts and what it refuses.
func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		graph map[string][]string
		want  []string
	}{
		{"downward imports pass", map[string][]string{
			"internal/app":     {"internal/web", "internal/trigger", "internal/store"},
			"internal/web":     {"internal/trigger", "internal/journey"},
			"internal/trigger": {"internal/playbook", "internal/journey", "internal/vocab"},
			"internal/journey": {"internal/store", "internal/vocab"},
			"internal/store":   {"internal/vocab"},
			"internal/vocab":   nil,
		}, nil},
		{"a planned transport package is transport", map[string][]string{
			"internal/web/api": {"internal/web", "internal/playbook"},
		}, nil},
		{"domain importing a service fails", map[string][]string{
			"internal/journey": {"internal/trigger"},
		}, []string{"internal/journey (domain) imports internal/trigger (services), a layer above it: move the shared code down, or pass it in from above"}},
		{"store importing the vocabulary passes, importing the domain fails", map[string][]string{
			"internal/store": {"internal/vocab", "internal/health"},
		}, []string{"internal/store (store) imports internal/health (domain), a layer above it: move the shared code down, or pass it in from above"}},
		{"a service importing transport fails", map[string][]string{
			"internal/playbook": {"internal/web/ui"},
		}, []string{"internal/playbook (services) imports internal/web/ui (transport), a layer above it: move the shared code down, or pass it in from above"}},
		{"the vocabulary imports nothing of ours", map[string][]string{
			"internal/vocab": {"internal/journey"},
		}, []string{"internal/vocab (vocabulary) imports internal/journey (domain), a layer above it: move the shared code down, or pass it in from above"}},
		{"an unassigned package fails", map[string][]string{
			"internal/survey": {"internal/store"},
		}, []string{"internal/survey is on no layer: add it to the layer it belongs to in Layers (internal/archtest/layers.go) and to docs/architecture.md"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Check(Layers, tt.graph))
		})
	}
}

// moduleGraph runs go list -deps -json on the module and returns each of
// its packages with the module packages it imports.
func moduleGraph(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", Module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())
	graph := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Dir        string
			GoFiles    []string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		rel, ok := relative(p.ImportPath)
		if !ok {
			continue
		}
		// go test caches a passing result by the files the test opens; go
		// list's reads are not seen, so the test reads the sources itself:
		// an edited import then reruns it instead of replaying a stale pass.
		for _, f := range p.GoFiles {
			_, err := os.ReadFile(filepath.Join(p.Dir, f))
			require.NoError(t, err)
		}
		var imports []string
		for _, imp := range p.Imports {
			if r, ok := relative(imp); ok {
				imports = append(imports, r)
			}
		}
		graph[rel] = imports
	}
	return graph
}

// relative returns path relative to the module, and whether it is in it.
func relative(path string) (string, bool) {
	return strings.CutPrefix(path, Module+"/")
}
