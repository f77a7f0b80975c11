package defaults

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLoggerKeepsTheGivenOne(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	require.Same(t, l, Logger(l))
	// A nil logger becomes one that may be used and writes nowhere.
	Logger(nil).Error("dropped")
	require.Empty(t, buf.String())
}

func TestClockDefaultsToUTC(t *testing.T) {
	t.Parallel()
	fixed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Equal(t, fixed, Clock(func() time.Time { return fixed })())
	now := Clock(nil)()
	require.Equal(t, time.UTC, now.Location())
	require.WithinDuration(t, time.Now(), now, time.Minute)
}
