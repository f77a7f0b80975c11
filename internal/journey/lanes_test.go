package journey_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
)

func TestLanes(t *testing.T) {
	t.Parallel()
	m := setup(t)
	sw := journey.Lanes(m)

	require.Len(t, sw.Stages, len(m.Stages))
	require.Len(t, sw.Lanes, len(m.Teams))
	require.Empty(t, sw.Unplaced)
	placed := map[string]int{}
	for i, lane := range sw.Lanes {
		require.Equal(t, m.Teams[i].ID, lane.Team.ID, "rows in team order")
		require.Len(t, lane.Cells, len(m.Stages))
		for j, cell := range lane.Cells {
			require.Equal(t, m.Stages[j].ID, cell.Stage, "columns in stage order")
			for _, mo := range cell.Moments {
				require.Equal(t, lane.Team.ID, mo.Owner, "moment %s in its owner's lane", mo.ID)
				require.Equal(t, cell.Stage, mo.Stage, "moment %s in its stage's column", mo.ID)
				require.Equal(t, mo.Importance.Score(), mo.Score)
				placed[mo.ID]++
			}
		}
	}
	for _, mo := range m.Moments {
		require.Equal(t, 1, placed[mo.ID], "moment %s appears exactly once", mo.ID)
	}

	// Spot check: the kickoff sits in customer success × committing with
	// its supporters.
	cs := sw.Lanes[1]
	require.Equal(t, "customer_success", cs.Team.ID)
	committing := cs.Cells[3]
	require.Equal(t, "committing", committing.Stage)
	require.Len(t, committing.Moments, 1)
	require.Equal(t, "contract_signed", committing.Moments[0].ID)
	require.Equal(t, []string{"sales", "professional_services", "finance"}, committing.Moments[0].Supporters)
	require.Equal(t, 16, committing.Moments[0].Score)
}

func TestLanesUnplaced(t *testing.T) {
	t.Parallel()
	m := &journey.Map{
		Stages:  []journey.Stage{{ID: "s"}},
		Teams:   []journey.Team{{ID: "t"}},
		Moments: []journey.Moment{{ID: "ok", Stage: "s", Owner: "t"}, {ID: "lost", Stage: "s", Owner: "nobody"}},
	}
	sw := journey.Lanes(m)
	require.Len(t, sw.Lanes[0].Cells[0].Moments, 1)
	require.Len(t, sw.Unplaced, 1)
	require.Equal(t, "lost", sw.Unplaced[0].ID)
}

func TestRankedMoments(t *testing.T) {
	t.Parallel()
	m := &journey.Map{
		Stages: []journey.Stage{{ID: "delivering"}, {ID: "growing"}},
		Moments: []journey.Moment{
			{ID: "b_low", Stage: "delivering", Importance: journey.Importance{Revenue: 1}},
			{ID: "z_renewal", Stage: "growing", Importance: journey.Importance{Revenue: 5, Retention: 5}},
			{ID: "y_growing", Stage: "growing", Importance: journey.Importance{Rescue: 3}},
			{ID: "x_delivering", Stage: "delivering", Importance: journey.Importance{Relationship: 3}},
			{ID: "a_delivering", Stage: "delivering", Importance: journey.Importance{Relationship: 3}},
		},
	}
	var ids []string
	for _, mo := range m.RankedMoments() {
		ids = append(ids, mo.ID)
	}
	require.Equal(t, []string{"z_renewal", "a_delivering", "x_delivering", "y_growing", "b_low"}, ids)
	require.Equal(t, "b_low", m.Moments[0].ID, "the map's own order is unchanged")

	example := setup(t).RankedMoments()
	for i := 1; i < len(example); i++ {
		require.GreaterOrEqual(t, example[i-1].Importance.Score(), example[i].Importance.Score())
	}
}
