package archtest

import (
	"fmt"
	"sort"
	"strings"
)

// Module is the module path the layers are written relative to.
const Module = "github.com/moments-cs/moments"

// Layer is one floor of the house: the packages on it may import packages
// on their own floor or below, never above.
type Layer struct {
	Name string
	// Packages are paths relative to Module; "internal/web/..." takes the
	// package and every package under it.
	Packages []string
}

// Layers are the layers from top to bottom. Every package of the module
// must be on exactly one.
var Layers = []Layer{
	{Name: "launcher", Packages: []string{"cmd/moments", "internal/app", "internal/archtest"}},
	// The HTTP kernel (internal/web) and its surfaces: tracking, api, ui,
	// and server, which assembles them.
	{Name: "transport", Packages: []string{"internal/web/..."}},
	{Name: "services", Packages: []string{
		"internal/trigger", "internal/playbook", "internal/health/tracker", "internal/report",
		"internal/demo", "internal/notify", "internal/notify/notifytest", "internal/survey", "internal/health/planted",
	}},
	{Name: "domain", Packages: []string{
		"internal/journey", "internal/health", "internal/rules", "internal/ingest", "internal/paths",
		"internal/auth", "internal/stats", "examples",
	}},
	{Name: "store", Packages: []string{"internal/store/..."}},
	// The vocabulary and the helpers every package may use: they import
	// nothing of ours.
	{Name: "vocabulary", Packages: []string{"internal/vocab", "internal/defaults", "internal/golden", "internal/fakeclock"}},
}

// layerOf returns the index in layers of the layer holding pkg (a path
// relative to Module), or -1 when no layer holds it.
func layerOf(layers []Layer, pkg string) int {
	for i, l := range layers {
		for _, p := range l.Packages {
			if rest, ok := strings.CutSuffix(p, "/..."); ok {
				if pkg == rest || strings.HasPrefix(pkg, rest+"/") {
					return i
				}
			} else if pkg == p {
				return i
			}
		}
	}
	return -1
}

// Check returns one problem per package of graph (package → its imports,
// all paths relative to Module; imports outside the module already left
// out) that is on no layer, and one per import of a package on a higher
// layer. The problems are sorted.
func Check(layers []Layer, graph map[string][]string) []string {
	var problems []string
	for pkg, imports := range graph {
		from := layerOf(layers, pkg)
		if from < 0 {
			problems = append(problems, fmt.Sprintf(
				"%s is on no layer: add it to the layer it belongs to in Layers (internal/archtest/layers.go) and to docs/architecture.md", pkg))
			continue
		}
		for _, imp := range imports {
			to := layerOf(layers, imp)
			if to >= 0 && to < from {
				problems = append(problems, fmt.Sprintf("%s (%s) imports %s (%s), a layer above it: move the shared code down, or pass it in from above",
					pkg, layers[from].Name, imp, layers[to].Name))
			}
		}
	}
	sort.Strings(problems)
	return problems
}
