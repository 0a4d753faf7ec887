package catalog

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// Region is a place where hubs run, with the declared location of the data
// kept for it (ISO/IEC 27017 6.1.3, 18.1.1), shown to customers.
type Region struct {
	ID           RegionID  `json:"id"`
	Code         string    `json:"code"`
	NameEN       string    `json:"name_en"`
	NameJA       string    `json:"name_ja"`
	DataLocation string    `json:"data_location"`
	CreatedAt    time.Time `json:"created_at"`
}

// RegionInput creates a region.
type RegionInput struct {
	Code         string `json:"code"`
	NameEN       string `json:"name_en"`
	NameJA       string `json:"name_ja"`
	DataLocation string `json:"data_location"`
}

var regionCodeRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,31}$`)

func checkText(field, s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return fault.Field(field, "%s is required", field)
	}
	if msg := text.SingleLine(s); msg != "" {
		// msg is the text check's own message ("must be …"), translated
		// on its own inside this format.
		return fault.Field(field, "%s is not accepted as text: it %s", field, msg)
	}
	if utf8.RuneCountInString(s) > max {
		return fault.Field(field, "%s must be valid text of at most %d characters", field, max)
	}
	return nil
}

// CreateRegion adds a region (operator inventory).
func (c *Catalog) CreateRegion(ctx context.Context, in RegionInput) (Region, error) {
	if !regionCodeRE.MatchString(in.Code) {
		return Region{}, fault.Field("code", "code must be 2–32 lowercase letters, digits or hyphens, starting with a letter")
	}
	for _, f := range []struct{ name, v string }{{"name_en", in.NameEN}, {"name_ja", in.NameJA}, {"data_location", in.DataLocation}} {
		if err := checkText(f.name, f.v, 100); err != nil {
			return Region{}, err
		}
	}
	r := Region{ID: RegionID(ids.New("reg")), Code: in.Code, NameEN: in.NameEN, NameJA: in.NameJA,
		DataLocation: in.DataLocation, CreatedAt: clock.Now()}
	err := c.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, r.ID, r.Code, r.NameEN, r.NameJA, r.DataLocation, clock.Store(r.CreatedAt)); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.Wrap(fault.Conflict, err, "region %s already exists", r.Code)
			}
			return err
		}
		return c.audit.RecordTx(ctx, tx, audit.Event{Action: "region.create", Target: "region:" + string(r.ID),
			Detail: map[string]any{"code": r.Code, "data_location": r.DataLocation}})
	})
	if err != nil {
		return Region{}, fmt.Errorf("create region: %w", err)
	}
	return r, nil
}

const regionCols = `id, code, name_en, name_ja, data_location, created_at`

func scanRegion(s interface{ Scan(...any) error }) (Region, error) {
	var r Region
	var at string
	err := s.Scan(&r.ID, &r.Code, &r.NameEN, &r.NameJA, &r.DataLocation, &at)
	r.CreatedAt = parseTime(at)
	return r, err
}

// ListRegions lists regions by code.
func (c *Catalog) ListRegions(ctx context.Context, p Page) ([]Region, string, error) {
	rows, err := c.db.Query(ctx, `SELECT `+regionCols+` FROM regions WHERE code > ? ORDER BY code LIMIT ?`, p.After, p.limit())
	if err != nil {
		return nil, "", fmt.Errorf("list regions: %w", err)
	}
	defer rows.Close()
	out := []Region{}
	var keys []string
	for rows.Next() {
		r, err := scanRegion(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list regions: %w", err)
		}
		out = append(out, r)
		keys = append(keys, r.Code)
	}
	return out, next(keys, p), rows.Err()
}

// RegionByCode finds a region by its code.
func (c *Catalog) RegionByCode(ctx context.Context, q store.Querier, code string) (Region, error) {
	r, err := scanRegion(q.QueryRow(ctx, `SELECT `+regionCols+` FROM regions WHERE code = ?`, code))
	if err != nil {
		return Region{}, notFound("region", store.Wrap(err))
	}
	return r, nil
}
