// Package archtest holds the architecture test: it reads the import graph
// of the module (go list -deps -json) and fails when a package imports one
// in a layer above its own. The layers, top to bottom, are listed in
// Layers; docs/architecture.md explains them.
package archtest
