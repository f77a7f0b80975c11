package journey

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"

	"github.com/goccy/go-yaml"
)

// Marshal exports the map as canonical YAML: keys in the order of the
// format, two-space indentation, multi-line text as | blocks, and no
// defaults the author did not write. Parsing the result gives a map equal
// to m (comments and formatting of the original are not kept).
func Marshal(m *Map) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("journey: marshal a nil map")
	}
	out, err := yaml.MarshalWithOptions(normalized(m),
		yaml.Indent(2),
		yaml.IndentSequence(true),
		yaml.UseLiteralStyleIfMultiline(true),
	)
	if err != nil {
		return nil, fmt.Errorf("journey: export map %q: %w", m.Name, err)
	}
	// The encoder indents the empty lines of | blocks, leaving trailing
	// spaces that editors flag. Remove them, unless that changes the
	// content (a line of spaces inside a block is text).
	if clean := trimTrailingSpace(out); !bytes.Equal(clean, out) {
		if back, diags := Parse("export.yaml", clean); back != nil && !HasErrors(diags) && Hash(back) == Hash(m) {
			out = clean
		}
	}
	return out, nil
}

func trimTrailingSpace(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " \t")
	}
	return bytes.Join(lines, []byte("\n"))
}

// Canonical returns the map's content as canonical JSON: fields in a fixed
// order, map keys sorted, empty values left out. Two maps with the same
// content have the same canonical form whatever their YAML looked like.
func Canonical(m *Map) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// normalized replaces the only values encoding/json rejects (NaN and
	// infinities, which Parse never produces), so this cannot fail.
	if err := enc.Encode(normalized(m)); err != nil {
		panic(fmt.Sprintf("journey: canonical form: %v", err))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// Hash returns the hex SHA-256 of the map's canonical form. Applying a map
// whose hash equals the live version's creates no new version.
func Hash(m *Map) string {
	sum := sha256.Sum256(Canonical(m))
	return hex.EncodeToString(sum[:])
}

// normalized returns a copy of m in which empty lists and maps are nil and
// numbers are finite, so that equal content has one representation.
func normalized(m *Map) *Map {
	if m == nil {
		return &Map{}
	}
	c := m.Clone()
	normalize(reflect.ValueOf(c).Elem())
	return c
}

func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				normalize(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := range v.Len() {
			normalize(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if v.Type().Elem().Kind() == reflect.Float64 {
			iter := v.MapRange()
			for iter.Next() {
				if f := iter.Value().Float(); math.IsNaN(f) || math.IsInf(f, 0) {
					v.SetMapIndex(iter.Key(), reflect.ValueOf(0.0))
				}
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			normalize(v.Elem())
			if v.Elem().IsZero() {
				v.Set(reflect.Zero(v.Type()))
			}
		}
	case reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			v.SetFloat(0)
		}
	}
}
