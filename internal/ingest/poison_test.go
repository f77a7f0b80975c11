package ingest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/ingest"
	"github.com/moments-cs/moments/internal/store"
)

// TestDecodeRefusesPoisonData: input that would be stored broken, crash
// the clients that read it back, or fail on PostgreSQL is refused with a
// 400 naming the field, in single calls and batches alike.
func TestDecodeRefusesPoisonData(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70)
	cases := []struct {
		name, body, code, field, message string
	}{
		{"invalid UTF-8 in properties", "{\"userId\":\"u\",\"event\":\"X\",\"properties\":{\"plan\":\"\xff\xfe\"}}",
			"invalid_encoding", "", "not valid UTF-8"},
		{"nested 70 levels", `{"userId":"u","event":"X","properties":` + deep + `}`,
			"too_deep", "", "at most 64"},
		{"NUL in a property", `{"userId":"u","event":"X","properties":{"plan":"pro\u0000"}}`,
			"invalid_message", "", `\u0000`},
		{"NUL in an id", `{"userId":"u\u0000","event":"X"}`, "invalid_message", "", `\u0000`},
		{"lone surrogate", `{"userId":"u","event":"X","properties":{"e":"\ud83d"}}`, "invalid_message", "", "surrogate"},
		{"slash in userId", `{"userId":"u/../x","event":"X"}`, "invalid_id", "userId", `"/"`},
		{"question mark in context.groupId", `{"userId":"u","event":"X","context":{"groupId":"acme?x=1"}}`,
			"invalid_id", "context.groupId", `"?"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := ingest.DecodeCall([]byte(c.body), "track", received)
			require.NotNil(t, err, "must be refused")
			require.Equal(t, c.code, err.Code, err.Message)
			require.Equal(t, c.field, err.Field)
			require.Contains(t, err.Message, c.message)

			// In a batch the message is rejected by index; the others pass.
			batch := `{"batch":[{"type":"track","userId":"ok","event":"Fine"},` + strings.Replace(c.body, `{`, `{"type":"track",`, 1) + `]}`
			d, berr := ingest.DecodeBatch([]byte(batch), received)
			require.Nil(t, berr)
			require.Len(t, d.Messages, 1)
			require.Len(t, d.Rejected, 1)
			want := "batch[1]"
			if c.field != "" {
				want += "." + c.field
			}
			require.Equal(t, want, d.Rejected[0].Field)
		})
	}
}

func TestDecodeGroupIDWithPathCharacters(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"x/../../settings/keys/1/revoke?", "acme#top", "a?b"} {
		body, _ := json.Marshal(map[string]any{"userId": "u", "groupId": id})
		_, err := ingest.DecodeCall(body, "group", received)
		require.NotNil(t, err, id)
		require.Equal(t, "groupId", err.Field)
		require.Contains(t, err.Message, "may not contain")
	}
}

// TestDecodeClampsTimestamps: a skewed device clock cannot date an event
// in 1734 or next year; the time is then the time of receipt, and the
// device's time is kept in context.moments.
func TestDecodeClampsTimestamps(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		fromYear   int
	}{
		{"skew into the distant past", `{"userId":"u","event":"X","originalTimestamp":"2026-11-25T12:00:00Z","sentAt":"2318-11-25T12:00:00Z"}`,
			1734},
		{"future", `{"userId":"u","event":"X","timestamp":"2027-11-25T12:00:00Z"}`, 2027},
		{"before 2000", `{"userId":"u","event":"X","timestamp":"1990-01-01T00:00:00Z"}`, 1990},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, err := ingest.DecodeCall([]byte(c.body), "track", received)
			require.Nil(t, err)
			m := d.Messages[0]
			require.True(t, m.Timestamp.Equal(received), "got %s", m.Timestamp)
			var ctx struct {
				Moments struct {
					TimestampFrom string `json:"timestamp_clamped_from"`
				} `json:"moments"`
			}
			require.NoError(t, json.Unmarshal(m.Context, &ctx), string(m.Context))
			from, perr := time.Parse(time.RFC3339Nano, ctx.Moments.TimestampFrom)
			require.NoError(t, perr)
			require.Equal(t, c.fromYear, from.Year())
		})
	}
	// A time within the window is kept as it is.
	d, err := ingest.DecodeCall([]byte(`{"userId":"u","event":"X","timestamp":"2026-11-26T06:00:00Z","context":{"ip":"1.2.3.4"}}`), "track", received)
	require.Nil(t, err)
	require.Equal(t, time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC), d.Messages[0].Timestamp, "up to a day ahead is a clock, not an error")
	require.JSONEq(t, `{"ip":"1.2.3.4"}`, string(d.Messages[0].Context))
}

// TestStripProtectedTraits: the traits that steer email and rights are
// dropped from a call made with a browser's write key, and reported.
func TestStripProtectedTraits(t *testing.T) {
	t.Parallel()
	msgs := []store.Message{
		{Type: "identify", UserID: "u1", Traits: map[string]any{"email": "victim@example.com", "first_name": "Click here", "plan": "pro"}},
		{Type: "group", GroupID: "acme", Traits: map[string]any{"owner": "sam@vendor.example", "name": "Acme"}},
		{Type: "track", Name: "Signed Up"},
	}
	dropped := ingest.StripProtectedTraits(msgs)
	require.Equal(t, []string{"email", "first_name", "owner"}, dropped)
	require.Equal(t, map[string]any{"plan": "pro"}, msgs[0].Traits)
	require.Equal(t, map[string]any{"name": "Acme"}, msgs[1].Traits)
}

// FuzzDecodeCall: whatever the body, a call is refused or decoded into a
// message that PostgreSQL can store and a client can read: valid UTF-8,
// no NUL, shallow, and timed within the window.
func FuzzDecodeCall(f *testing.F) {
	f.Add([]byte(`{"userId":"u","event":"X","properties":{"a":[1,{"b":"c"}]}}`))
	f.Add([]byte(`{"userId":"u","event":"X","properties":{"a":"\u0000"}}`))
	f.Add([]byte("{\"userId\":\"u\",\"event\":\"X\",\"properties\":{\"a\":\"\xc3\"}}"))
	f.Add([]byte(`{"userId":"u/x","event":"X","timestamp":"1734-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ingest.DecodeCall(body, "track", received)
		if err != nil {
			require.NotEmpty(t, err.Message)
			return
		}
		for _, m := range d.Messages {
			for _, raw := range [][]byte{m.Properties, m.Context, m.Integrations, []byte(m.UserID + m.Name + m.MessageID + m.GroupID)} {
				require.True(t, utf8.Valid(raw))
				require.NotContains(t, string(raw), `\u0000`)
				require.NotContains(t, string(raw), "\x00")
			}
			require.False(t, m.Timestamp.After(received.Add(24*time.Hour)))
			require.False(t, m.Timestamp.Before(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)))
		}
	})
}
