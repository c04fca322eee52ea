package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	digest "github.com/newsroom/digest"
)

// UpsertBrief stores b under its slug: a new slug inserts, a known one
// replaces every field (its signals and sources included) while keeping the
// brief's id and created_at. It sets b.ID, b.CreatedAt and b.UpdatedAt and
// reports whether the brief was created.
func (db *DB) UpsertBrief(ctx context.Context, b *digest.Brief) (created bool, err error) {
	if err := validateBrief(b); err != nil {
		return false, err
	}
	now := db.now()
	var (
		id        int64
		createdAt time.Time
	)
	err = db.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id, created_at FROM briefs WHERE slug = ?`, b.Slug).
			Scan(&id, timeCol{&createdAt})
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created, createdAt = true, now
			id, err = insertBrief(ctx, tx, b, now)
		case err == nil:
			err = updateBrief(ctx, tx, id, b, now)
		}
		if err != nil {
			return err
		}
		return insertSignals(ctx, tx, id, b.Signals)
	})
	if err != nil {
		return false, fmt.Errorf("save brief %q: %w", b.Slug, mapError(err))
	}
	b.ID, b.CreatedAt, b.UpdatedAt = id, createdAt, now
	return created, nil
}

// validateBrief refuses what the schema could not store faithfully.
func validateBrief(b *digest.Brief) error {
	switch {
	case b.Slug == "":
		return digest.Invalid("brief", "slug", "missing")
	case b.Region == "":
		return digest.Invalid(b.Slug, "region", "missing")
	case b.PublishedAt.IsZero():
		return digest.Invalid(b.Slug, "published_at", "missing")
	}
	if err := checkTime(b.PublishedAt); err != nil {
		return digest.Invalid(b.Slug, "published_at", "%v", err)
	}
	return nil
}

// imageColumns returns the image's columns, all NULL when there is none.
func imageColumns(img *digest.Image) [4]any {
	if img == nil {
		return [4]any{}
	}
	return [4]any{img.URL, img.Alt, img.Caption, img.Credit}
}

func insertBrief(ctx context.Context, tx *sql.Tx, b *digest.Brief, now time.Time) (int64, error) {
	img := imageColumns(b.Image)
	res, err := tx.ExecContext(ctx, `
		INSERT INTO briefs (slug, region, headline, lede, body, author, published_at,
			image_url, image_alt, image_caption, image_credit, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.Slug, b.Region, b.Headline, b.Lede, b.Body, b.Author, formatTime(b.PublishedAt),
		img[0], img[1], img[2], img[3], formatTime(now), formatTime(now))
	if err != nil {
		return 0, fmt.Errorf("insert: %w", err)
	}
	return res.LastInsertId()
}

func updateBrief(ctx context.Context, tx *sql.Tx, id int64, b *digest.Brief, now time.Time) error {
	img := imageColumns(b.Image)
	if _, err := tx.ExecContext(ctx, `
		UPDATE briefs SET region = ?, headline = ?, lede = ?, body = ?, author = ?, published_at = ?,
			image_url = ?, image_alt = ?, image_caption = ?, image_credit = ?, updated_at = ?
		WHERE id = ?`,
		b.Region, b.Headline, b.Lede, b.Body, b.Author, formatTime(b.PublishedAt),
		img[0], img[1], img[2], img[3], formatTime(now), id); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	// The sources go with their signals (ON DELETE CASCADE).
	if _, err := tx.ExecContext(ctx, `DELETE FROM brief_signals WHERE brief_id = ?`, id); err != nil {
		return fmt.Errorf("replace signals: %w", err)
	}
	return nil
}

// insertSignals stores signals and their sources with their positions.
func insertSignals(ctx context.Context, tx *sql.Tx, briefID int64, signals []digest.Signal) error {
	if len(signals) == 0 {
		return nil
	}
	sigStmt, err := tx.PrepareContext(ctx,
		`INSERT INTO brief_signals (brief_id, position, title, body) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("insert signals: %w", err)
	}
	defer sigStmt.Close()
	srcStmt, err := tx.PrepareContext(ctx,
		`INSERT INTO signal_sources (brief_id, signal_position, position, name, url) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("insert sources: %w", err)
	}
	defer srcStmt.Close()
	for i, s := range signals {
		if _, err := sigStmt.ExecContext(ctx, briefID, i, s.Title, s.Body); err != nil {
			return fmt.Errorf("insert signal %d: %w", i+1, err)
		}
		for j, src := range s.Sources {
			if _, err := srcStmt.ExecContext(ctx, briefID, i, j, src.Name, src.URL); err != nil {
				return fmt.Errorf("insert signal %d source %d: %w", i+1, j+1, err)
			}
		}
	}
	return nil
}

// BriefsByID returns the briefs with the given ids, in the order of ids. It
// fails with digest.ErrNotFound, naming the id, when any of them is missing.
func (db *DB) BriefsByID(ctx context.Context, ids []int64) ([]digest.Brief, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	bs, err := db.queryBriefs(ctx,
		`SELECT `+briefColumns+` FROM briefs WHERE id IN (SELECT value FROM json_each(?))`, int64sJSON(ids))
	if err != nil {
		return nil, fmt.Errorf("briefs by id: %w", err)
	}
	byID := make(map[int64]digest.Brief, len(bs))
	for _, b := range bs {
		byID[b.ID] = b
	}
	out := make([]digest.Brief, len(ids))
	for i, id := range ids {
		b, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("brief %d: %w", id, digest.ErrNotFound)
		}
		out[i] = b
	}
	return out, nil
}

const briefColumns = `id, slug, region, headline, lede, body, author, published_at,
	image_url, image_alt, image_caption, image_credit, created_at, updated_at`

// queryBriefs runs a query selecting briefColumns and loads the signals and
// sources of the briefs it returns, in one read transaction.
func (db *DB) queryBriefs(ctx context.Context, query string, args ...any) ([]digest.Brief, error) {
	var bs []digest.Brief
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		if bs, err = queryRows(ctx, tx, scanBrief, query, args...); err != nil {
			return err
		}
		return loadSignals(ctx, tx, bs)
	})
	return bs, err
}

func scanBrief(s scanner) (digest.Brief, error) {
	var (
		b                                   digest.Brief
		imgURL, imgAlt, imgCaption, imgCred sql.NullString
	)
	err := s.Scan(&b.ID, &b.Slug, &b.Region, &b.Headline, &b.Lede, &b.Body, &b.Author,
		timeCol{&b.PublishedAt}, &imgURL, &imgAlt, &imgCaption, &imgCred,
		timeCol{&b.CreatedAt}, timeCol{&b.UpdatedAt})
	if err != nil {
		return digest.Brief{}, fmt.Errorf("scan brief: %w", err)
	}
	if imgURL.Valid {
		b.Image = &digest.Image{URL: imgURL.String, Alt: imgAlt.String, Caption: imgCaption.String, Credit: imgCred.String}
	}
	return b, nil
}

// loadSignals fills in the signals and sources of bs, in stored order.
func loadSignals(ctx context.Context, tx *sql.Tx, bs []digest.Brief) error {
	if len(bs) == 0 {
		return nil
	}
	ids := make([]int64, len(bs))
	index := make(map[int64]int, len(bs)) // brief id -> index in bs
	for i, b := range bs {
		ids[i] = b.ID
		index[b.ID] = i
	}
	idsJSON := int64sJSON(ids)

	type signalKey struct {
		brief    int64
		position int
	}
	signalAt := make(map[signalKey]int) // -> index in the brief's Signals
	rows, err := tx.QueryContext(ctx, `
		SELECT brief_id, position, title, body FROM brief_signals
		WHERE brief_id IN (SELECT value FROM json_each(?))
		ORDER BY brief_id, position`, idsJSON)
	if err != nil {
		return fmt.Errorf("load signals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k signalKey
			s digest.Signal
		)
		if err := rows.Scan(&k.brief, &k.position, &s.Title, &s.Body); err != nil {
			return fmt.Errorf("scan signal: %w", err)
		}
		b := &bs[index[k.brief]]
		signalAt[k] = len(b.Signals)
		b.Signals = append(b.Signals, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load signals: %w", err)
	}
	if len(signalAt) == 0 {
		return nil
	}

	rows, err = tx.QueryContext(ctx, `
		SELECT brief_id, signal_position, name, url FROM signal_sources
		WHERE brief_id IN (SELECT value FROM json_each(?))
		ORDER BY brief_id, signal_position, position`, idsJSON)
	if err != nil {
		return fmt.Errorf("load sources: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k   signalKey
			src digest.Source
		)
		if err := rows.Scan(&k.brief, &k.position, &src.Name, &src.URL); err != nil {
			return fmt.Errorf("scan source: %w", err)
		}
		sig := &bs[index[k.brief]].Signals[signalAt[k]]
		sig.Sources = append(sig.Sources, src)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load sources: %w", err)
	}
	return nil
}
