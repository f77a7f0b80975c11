package journey_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moments-cs/moments/internal/journey"
)

// FuzzParse feeds the loader arbitrary bytes: it must never panic or hang,
// and a map that lints clean must survive export unchanged. Plain go test
// runs only the seeds; explore with
//
//	go test ./internal/journey -run '^$' -fuzz FuzzParse -fuzztime 60s -fuzzminimizetime 3s
//
// (A short minimisation time matters: the seeds include the 20 KiB example,
// and minimising a large input one byte at a time otherwise stalls the run.)
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/lint/*.yaml")
	seeds = append(seeds, examplePath)
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a]\n"))
	// Found by fuzzing: a merge of the mapping that holds it overflowed
	// the stack.
	f.Add([]byte("version: 1\nmoments:\n  - &base\n    <<: *base\n    id: w\n"))
	f.Add([]byte("version: 1\nmoments: [{<<: {id: x}}]\n"))
	f.Add([]byte("{{{{{{{{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, diags := journey.Lint("fuzz.yaml", data)
		for _, d := range diags {
			if d.Line < 0 || d.Col < 0 || d.Message == "" {
				t.Fatalf("malformed diagnostic %#v", d)
			}
		}
		if m == nil {
			if !journey.HasErrors(diags) {
				t.Fatal("no map and no error")
			}
			return
		}
		_ = journey.Lanes(m)
		_ = journey.Diff(m, nil)
		if journey.HasErrors(diags) {
			return
		}
		out, err := journey.Marshal(m)
		if err != nil {
			t.Fatalf("export of a clean map: %v", err)
		}
		back, backDiags := journey.Parse("export.yaml", out)
		if journey.HasErrors(backDiags) {
			t.Fatalf("export does not parse: %v\n%s", backDiags, out)
		}
		if journey.Hash(back) != journey.Hash(m) {
			t.Fatalf("export changes the content:\n%s\n---\n%s", journey.Canonical(m), journey.Canonical(back))
		}
	})
}
