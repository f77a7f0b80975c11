package health

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/vocab"
)

func TestAggregateWireFormat(t *testing.T) {
	t.Parallel()
	a := &Aggregate{
		Format:       1,
		Seen:         1773576000,
		LastActivity: 1773575000,
		Days:         []DayCount{{Day: 20527, Count: 3}},
		Users:        []UserDay{{Hash: 4294967295, Day: 20527}},
		Features:     map[string]int64{"Report Created": 1773575000, "Alert Set": 1773570000},
		Responses:    []Response{{Contact: "u1", Label: "jane@acme.example", Role: "sponsor", Kind: "nps", Score: 4.5, At: 1773500000}},
		RecentCES:    []Response{{Contact: "u\"2\"\n", Kind: "ces", Score: 7, At: 1773400000}},
		Tickets:      []Ticket{{Kind: "opened", At: 1773000000}},
		Milestones:   map[string]int64{"kickoff": 1772000000},
		Recent:       []Activity{{Name: "Überblick geöffnet", At: 1773575000}},
	}
	b, err := a.MarshalJSON()
	require.NoError(t, err)
	require.Equal(t, `{"format":1,"seen":1773576000,"last_activity":1773575000,`+
		`"days":[[20527,3]],"users":[[4294967295,20527]],`+
		`"features":{"Alert Set":1773570000,"Report Created":1773575000},`+
		`"responses":[["u1","jane@acme.example","sponsor","nps",4.5,1773500000]],`+
		`"recent_ces":[["u\"2\"\n","","","ces",7,1773400000]],`+
		`"tickets":[[1773000000,"opened"]],"milestones":{"kickoff":1772000000},`+
		`"recent":[["Überblick geöffnet",1773575000]]}`, string(b))

	var back Aggregate
	require.NoError(t, back.UnmarshalJSON(b))
	require.Equal(t, *a, back)

	// encoding/json accepts it both ways, white space included.
	viaStd, err := json.MarshalIndent(a, "", "  ")
	require.NoError(t, err)
	back = Aggregate{}
	require.NoError(t, json.Unmarshal(viaStd, &back))
	require.Equal(t, *a, back)

	// Unknown keys are skipped; an empty object is an empty aggregate.
	require.NoError(t, back.UnmarshalJSON([]byte(`{"format":1,"later":{"x":[1,"a",true,null,{"y":-1.5e3}]},"seen":5}`)))
	require.Equal(t, Aggregate{Format: 1, Seen: 5}, back)
	require.NoError(t, back.UnmarshalJSON([]byte(` {} `)))
	require.Equal(t, Aggregate{}, back)
}

func TestAggregateUnmarshalRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		``,
		`[]`,
		`{"format":1`,
		`{"format":"1"}`,
		`{"days":[[1]]}`,
		`{"days":[[1,2,3]]}`,
		`{"users":[[4294967296,1]]}`,
		`{"seen":99999999999999999999}`,
		`{"responses":[["a","b","c","d","x",1]]}`,
		`{"recent":[["unterminated,1]]}`,
		`{"format":1} trailing`,
		`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	} {
		var a Aggregate
		require.Error(t, a.UnmarshalJSON([]byte(in)), in)
	}
}

// FuzzAggregateUnmarshal checks that no stored bytes make the reader, or
// Apply and Score on what it read, panic, and that whatever it accepts
// survives a round trip.
func FuzzAggregateUnmarshal(f *testing.F) {
	a := build(testModel(),
		track("Report Created", "u1", daysAgo(3)),
		surveyEvent(vocab.SurveyNPS, 4, "u-jane", "sponsor", daysAgo(20)),
		ticketEvent(vocab.EventTicketReopened, daysAgo(2)),
		MilestoneEvent("first-report", daysAgo(3)),
	)
	seed, _ := a.MarshalJSON()
	f.Add(seed)
	f.Add([]byte(`{"format":1,"x":{"y":[1,"\u00e9",null]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Aggregate
		if a.UnmarshalJSON(data) != nil {
			return
		}
		b, err := a.MarshalJSON()
		require.NoError(t, err)
		var back Aggregate
		require.NoError(t, back.UnmarshalJSON(b))
		b2, _ := back.MarshalJSON()
		require.Equal(t, string(b), string(b2))
		a.Apply(track("Logged In", "u1", now), testModel())
		Score(&a, AccountInfo{Seats: 3}, testModel(), now)
		UsageDrop(&a, testModel(), now)
	})
}

// ParseTimes reads what json.Marshal writes of a map[string]int64, as
// encoding/json reads it, and refuses what is not such an object (null
// included: the caller hands what it refuses to encoding/json).
func TestParseTimesAsEncodingJSON(t *testing.T) {
	for _, m := range []map[string]int64{{}, {"Report Created": 1773159690}, {"a<b>&c": -5, "é \"q\"": 0, "x": 1 << 62}} {
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseTimes(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		var want map[string]int64
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: got %v, want %v", data, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: got %v, want %v", data, got, want)
			}
		}
	}
	for _, bad := range []string{``, `null`, `[]`, `{"a":1.5}`, `{"a":"1"}`, `{"a":1} x`, `{"a":1`} {
		if _, err := ParseTimes([]byte(bad)); err == nil {
			t.Fatalf("%q: no error", bad)
		}
	}
}
