package ingest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/ingest"
)

var received = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestDecodeCallTimestamps(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		want       time.Time
	}{
		{"no device time: receivedAt", `{"userId":"u","event":"X"}`, received},
		{"timestamp only: as given", `{"userId":"u","event":"X","timestamp":"2026-01-02T03:04:05Z"}`,
			time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"skew corrected", `{"userId":"u","event":"X","originalTimestamp":"2026-11-25T13:00:00Z","sentAt":"2026-11-25T13:00:10Z"}`,
			received.Add(-10 * time.Second)},
		{"history keeps its time", `{"userId":"u","event":"X","timestamp":"2025-11-25T12:00:00Z","sentAt":"2026-11-25T12:00:00Z"}`,
			time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)},
		{"zone offsets", `{"userId":"u","event":"X","timestamp":"2026-01-02T05:04:05+02:00"}`,
			time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, err := ingest.DecodeCall([]byte(c.body), "track", received)
			require.Nil(t, err)
			require.Len(t, d.Messages, 1)
			require.True(t, c.want.Equal(d.Messages[0].Timestamp), "got %s", d.Messages[0].Timestamp)
		})
	}
}

func TestDecodeIDsAsNumbers(t *testing.T) {
	t.Parallel()
	d, err := ingest.DecodeCall([]byte(`{"userId":42,"groupId":7,"traits":{"name":"Acme"}}`), "group", received)
	require.Nil(t, err)
	require.Equal(t, "42", d.Messages[0].UserID)
	require.Equal(t, "7", d.Messages[0].GroupID)
	require.Equal(t, "Acme", d.Messages[0].Traits["name"])
}

func TestAccountsCSV(t *testing.T) {
	t.Parallel()
	csv := "account_id,name,arr,seats,zip,renewal_date,active\n" +
		"acme,Acme Corp,48000,25,02134,2027-03-31,true\n" +
		",No Id,1,1,1,2027-01-01,true\n" +
		"globex,Globex,12000,5,90210,next year,false\n" +
		"initech,Initech,,3\n" +
		"umbrella,\"Umbrella, Inc\",9000.5,10,12345,2027-06-30T00:00:00Z,false\n"
	msgs, bad, err := ingest.AccountsCSV(strings.NewReader(csv), received)
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	require.Equal(t, "acme", msgs[0].GroupID)
	require.Equal(t, map[string]any{"name": "Acme Corp", "arr": 48000.0, "seats": 25.0, "zip": "02134",
		"renewal_date": "2027-03-31", "active": true}, msgs[0].Traits, "numbers become numbers, a leading zero keeps text")
	require.Equal(t, "Umbrella, Inc", msgs[1].Traits["name"])
	var lines []int
	for _, b := range bad {
		lines = append(lines, b.Line)
	}
	require.Equal(t, []int{3, 4, 5}, lines, "bad rows are reported by line: no id, bad date, wrong cell count")

	_, _, err = ingest.AccountsCSV(strings.NewReader("name,arr\nAcme,1\n"), received)
	require.ErrorContains(t, err, "no account id column")
}

// FuzzDecodeBatch: any body gets either an error or messages; never a
// panic, and every message it accepts has a type, an identity and a
// messageId under the limit.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"batch":[{"type":"track","userId":"u","event":"X"}]}`))
	f.Add([]byte(`{"sentAt":"2026-01-01T00:00:00Z","context":{"groupId":"g"},"batch":[{"type":"group","userId":1,"groupId":"g","traits":{"a":null}}]}`))
	f.Add([]byte(`{"batch":[{"type":"identify","anonymousId":"a","context":[]}]}`))
	f.Add([]byte(`{"batch":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ingest.DecodeBatch(body, received)
		if err != nil {
			require.NotEmpty(t, err.Message)
			return
		}
		for _, m := range d.Messages {
			require.NotEmpty(t, m.Type)
			require.True(t, m.UserID != "" || m.AnonymousID != "")
			require.NotEmpty(t, m.MessageID)
			require.Less(t, len(m.MessageID), 100)
			if len(m.Properties) > 0 {
				require.True(t, json.Valid(m.Properties))
			}
		}
	})
}
