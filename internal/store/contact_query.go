package store

import (
	"context"
	"fmt"
)

// ContactRolesTx returns the role of each of the contacts that has one.
func (s *Store) ContactRolesTx(ctx context.Context, q Querier, ids []string) (map[string]string, error) {
	ids = sortedUnique(ids)
	out := make(map[string]string, len(ids))
	for start := 0; start < len(ids); start += keyChunk {
		chunk := ids[start:min(start+keyChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, "SELECT id, role FROM contacts WHERE role <> '' AND id IN ("+s.dialect.placeholders(1, len(chunk))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("read contact roles: %w", err)
		}
		for rows.Next() {
			var id, role string
			if err := rows.Scan(&id, &role); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = role
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
