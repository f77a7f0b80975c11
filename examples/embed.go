// Package examples embeds the example journey maps, so that `moments demo`
// and tests can apply them without finding the repository on disk.
package examples

import _ "embed"

// B2BSaaS is examples/b2b-saas.yaml: the journey map of Northwind
// Analytics, the company `moments demo` invents.
//
//go:embed b2b-saas.yaml
var B2BSaaS []byte
