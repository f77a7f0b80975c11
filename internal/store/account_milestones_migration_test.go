package store_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestMigrationGathersExistingMilestones: an installation upgraded with
// milestones already reached gets them gathered by account, so the
// milestone funnel counts them from the first report.
func TestMigrationGathersExistingMilestones(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := storetest.Config(t, d)
			s, err := store.Open(ctx, cfg)
			require.NoError(t, err)
			// Back to the schema before the table, with milestones reached.
			dir, gd := "migrations/sqlite", goose.DialectSQLite3
			if d == store.Postgres {
				dir, gd = "migrations/postgres", goose.DialectPostgres
			}
			fsys, err := fs.Sub(store.Migrations, dir)
			require.NoError(t, err)
			p, err := goose.NewProvider(gd, s.DB(), fsys, goose.WithDisableGlobalRegistry(true))
			require.NoError(t, err)
			var version int64
			for _, m := range p.ListSources() {
				if strings.HasSuffix(m.Path, "_account_milestones.sql") {
					version = m.Version
				}
			}
			require.Positive(t, version)
			_, err = p.DownTo(ctx, version-1)
			require.NoError(t, err)
			for _, r := range [][]any{{"acme", "kickoff", 10}, {"acme", "value", 20}, {"ghost", "kickoff", 30}} {
				_, err := s.DB().ExecContext(ctx, `INSERT INTO health_milestones (account_id, milestone_id, path_id, reached_at) VALUES ($1, $2, 'p', $3)`,
					r...)
				require.NoError(t, err)
			}
			require.NoError(t, s.Close())

			s, err = store.Open(ctx, cfg)
			require.NoError(t, err)
			defer s.Close()
			require.Equal(t, map[string][]map[string]int64{
				"acme":  {{"kickoff": 10, "value": 20}},
				"ghost": {{"kickoff": 30}},
			}, accountMilestones(t, s, "account", []string{"kickoff", "value"}))
		})
	}
}
