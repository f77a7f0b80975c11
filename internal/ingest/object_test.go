package ingest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMergeObjectsAsMaps checks the raw merge against the rule it
// implements: decode both objects into maps, let the message's keys win.
func TestMergeObjectsAsMaps(t *testing.T) {
	t.Parallel()
	cases := []struct{ env, own string }{
		{`{"library":{"name":"x","v":[1,{"a":"}"}]},"ip":"1.1.1.1"}`, `{"ip":"2.2.2.2","groupId":"acme"}`},
		{`{"a":1}`, `{}`},
		{`{}`, `{"a":1}`},
		{` { "a" : "q\"uote" , "b" : null } `, ` { "c" : true , "a" : -1.5e3 } `},
		{`{"gr\u006fupId":"env"}`, `{"groupId":"own"}`},
		{`{"a":1}`, `{"a":2,"a":3}`},
		{`{"x":"\\"}`, `{"y":"\\\""}`},
	}
	for _, c := range cases {
		envM, ok := members(nil, []byte(c.env))
		require.True(t, ok, c.env)
		got, gotM, err := mergeObjects(json.RawMessage(c.env), envM, json.RawMessage(c.own), "batch[0].", "context")
		require.Nil(t, err)
		var e, o map[string]any
		require.NoError(t, json.Unmarshal([]byte(c.env), &e))
		require.NoError(t, json.Unmarshal([]byte(c.own), &o))
		for k, v := range o {
			e[k] = v
		}
		var merged map[string]any
		require.NoError(t, json.Unmarshal(got, &merged), "%s is not JSON", got)
		require.Equal(t, e, merged, "%s + %s", c.env, c.own)
		require.Len(t, gotM, len(merged)+countRepeats(gotM), "members of %s", got)
		if g, ok := e["groupId"]; ok {
			v, found := lookup(gotM, "groupId")
			require.True(t, found)
			require.JSONEq(t, mustJSON(t, g), string(v))
		}
	}
}

func countRepeats(ms []member) int {
	seen, n := map[string]bool{}, 0
	for _, m := range ms {
		if seen[m.name()] {
			n++
		}
		seen[m.name()] = true
	}
	return n
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestMembersRefusesNonObjects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{`[1]`, `"s"`, `1`, ``} {
		_, ok := members(nil, []byte(s))
		require.False(t, ok, s)
	}
}
