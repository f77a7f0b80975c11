package store

import (
	"context"
	"fmt"
	"math"
)

// Migrations are the embedded migrations, for the tests that migrate a
// database step by step.
var Migrations = migrations

// EventPartitions describes the partitions of events in id order, as
// "name [lo,hi)" (lo "MIN" for MINVALUE).
func EventPartitions(ctx context.Context, q Querier) ([]string, error) {
	parts, err := eventPartitions(ctx, q)
	var out []string
	for _, p := range parts {
		lo := fmt.Sprint(p.lo)
		if p.lo == math.MinInt64 {
			lo = "MIN"
		}
		out = append(out, fmt.Sprintf("%s [%s,%d)", p.name, lo, p.hi))
	}
	return out, err
}

// StageShardOf is the shard of an account (or contact) id, as the stages
// compute it on PostgreSQL.
var StageShardOf = stageShardOf

// StageShards and StageLease are the shard count and lease of the stages.
const (
	StageShards = stageShards
	StageLease  = stageLease
)

// IngestLagCounting is IngestLag counting the events of at most limit ids
// one by one (lagCountCap) before estimating the rest.
func (s *Store) IngestLagCounting(ctx context.Context, limit int64) (IngestLag, error) {
	return s.ingestLag(ctx, limit)
}
