package notice

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// FeedTokenPrefix starts every feed token, so that one pasted in the wrong
// place is recognisable (and an API token never passes as one).
const FeedTokenPrefix = "tsf"

// MaxFeedTokens bounds a customer's live feed tokens.
const MaxFeedTokens = 20

// maxFeedLabel bounds a feed token's label, in characters.
const maxFeedLabel = 100

// FeedToken is a customer's token for the Atom feed of its notices. The
// secret is shown once, at creation; only its SHA-256 is kept.
type FeedToken struct {
	ID         string     `json:"id"`
	Label      string     `json:"label"`
	Language   string     `json:"language"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// FeedTokenInput is a new feed token: a label saying where it is used (a
// feed reader, a chat integration) and the feed's language.
type FeedTokenInput struct {
	Label    string `json:"label"`
	Language string `json:"language"`
}

func (in FeedTokenInput) check() error {
	if strings.TrimSpace(in.Label) == "" || utf8.RuneCountInString(in.Label) > maxFeedLabel || text.SingleLine(in.Label) != "" {
		return fault.Field("label", "%s must be valid text of at most %d characters", "label", maxFeedLabel)
	}
	if in.Language != "ja" && in.Language != "en" {
		return fault.Field("language", "language must be ja or en")
	}
	return nil
}

// feedHash is how a feed token is kept: it is 256-bit random, so a plain
// SHA-256 suffices and allows the lookup.
func feedHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// FeedTokens lists h's customer's feed tokens, revoked ones included,
// newest first.
func (s *Service) FeedTokens(ctx context.Context, h tenant.Holder) ([]FeedToken, error) {
	cust, err := h.Authorize(custActSettings)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT id, label, language, created_at, last_used_at, revoked_at
		FROM notice_feed_tokens WHERE customer_id = ? ORDER BY created_at DESC, id`, string(cust))
	if err != nil {
		return nil, fmt.Errorf("feed tokens: %w", err)
	}
	defer rows.Close()
	out := []FeedToken{}
	for rows.Next() {
		var t FeedToken
		var created string
		var used, revoked *string
		if err := rows.Scan(&t.ID, &t.Label, &t.Language, &created, &used, &revoked); err != nil {
			return nil, store.Wrap(err)
		}
		if t.CreatedAt, err = clock.Parse(created); err != nil {
			return nil, fmt.Errorf("feed token %s: %w", t.ID, err)
		}
		if t.LastUsedAt, err = custOptTime(used); err != nil {
			return nil, err
		}
		if t.RevokedAt, err = custOptTime(revoked); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, store.Wrap(rows.Err())
}

// CreateFeedToken issues a feed token for h's customer and returns it with
// its secret, which is not kept and cannot be shown again. Audited.
func (s *Service) CreateFeedToken(ctx context.Context, h tenant.Holder, in FeedTokenInput) (FeedToken, string, error) {
	cust, err := h.Authorize(custActChannels)
	if err != nil {
		return FeedToken{}, "", err
	}
	in.Label = strings.TrimSpace(in.Label)
	if err := in.check(); err != nil {
		return FeedToken{}, "", err
	}
	t := FeedToken{ID: ids.New("nfeed"), Label: in.Label, Language: in.Language, CreatedAt: clock.Now()}
	secret := ids.Secret(FeedTokenPrefix)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := store.Scan(tx.QueryRow(ctx, `SELECT COUNT(*) FROM notice_feed_tokens
			WHERE customer_id = ? AND revoked_at IS NULL`, string(cust)), &n); err != nil {
			return err
		}
		if n >= MaxFeedTokens {
			return fault.New(fault.Conflict, "a customer has at most %d live feed tokens", MaxFeedTokens)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO notice_feed_tokens (id, customer_id, token_hash, label, language, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, t.ID, string(cust), feedHash(secret), t.Label, t.Language,
			clock.Store(t.CreatedAt), audit.ActorFrom(ctx).ID); err != nil {
			return fmt.Errorf("create feed token: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.feed_token.create", Target: "notice_feed_token:" + t.ID,
			CustomerID: string(cust), Detail: map[string]any{"name": t.Label}})
	})
	if err != nil {
		return FeedToken{}, "", err
	}
	return t, secret, nil
}

// RevokeFeedToken ends h's customer's feed token id at once, audited;
// another customer's token is NotFound, an already revoked one a no-op.
func (s *Service) RevokeFeedToken(ctx context.Context, h tenant.Holder, id string) error {
	cust, err := h.Authorize(custActSettings)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var revoked *string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT revoked_at FROM notice_feed_tokens WHERE id = ? AND customer_id = ?`,
			id, string(cust)), &revoked); err != nil {
			if fault.Is(err, fault.NotFound) {
				return fault.New(fault.NotFound, "no such feed token")
			}
			return err
		}
		if revoked != nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE notice_feed_tokens SET revoked_at = ? WHERE id = ? AND customer_id = ?`,
			clock.Store(clock.Now()), id, string(cust)); err != nil {
			return fmt.Errorf("revoke feed token: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.feed_token.revoke", Target: "notice_feed_token:" + id,
			CustomerID: string(cust)})
	})
}

// Feed is what one feed token reads: its customer's notices, in the
// token's language.
type Feed struct {
	TokenID  string // the feed's identity: one token, one feed
	Language string
	Notices  []CustomerNotice
}

// errFeedToken is the one answer to every token that does not open a feed
// (unknown, revoked, its customer's contract ended): which of them it was
// stays unsaid.
var errFeedToken = fault.New(fault.Unauthorized, "the feed token is not valid")

// FeedAdmit decides whether a read of customer cust's feed through token
// tokenID may go on (the web layer holds it to the customer's source-IP
// allow-list, identity.Service.CheckFeedSource); its error is the answer.
type FeedAdmit func(ctx context.Context, cust tenant.CustomerID, tokenID string) error

// FeedFor reads the feed that secret opens: the notices of the token's
// customer, current and past, while the token is live, the customer's
// contract has not ended and admit lets the read go on. The token is the
// caller's only credential, so this is the feed's authentication as well
// as its read; it records when the token was last used.
func (s *Service) FeedFor(ctx context.Context, secret string, admit FeedAdmit) (Feed, error) {
	if !strings.HasPrefix(secret, FeedTokenPrefix+"_") || len(secret) > 200 {
		return Feed{}, errFeedToken
	}
	var id, cust, lang string
	err := store.Scan(s.db.QueryRow(ctx, `SELECT t.id, t.customer_id, t.language FROM notice_feed_tokens t
		JOIN customers c ON c.id = t.customer_id
		WHERE t.token_hash = ? AND t.revoked_at IS NULL AND c.ended_at IS NULL`, feedHash(secret)), &id, &cust, &lang)
	if fault.Is(err, fault.NotFound) {
		return Feed{}, errFeedToken
	}
	if err != nil {
		return Feed{}, err
	}
	if err := admit(ctx, tenant.CustomerID(cust), id); err != nil {
		return Feed{}, err
	}
	if _, err := s.db.Exec(ctx, `UPDATE notice_feed_tokens SET last_used_at = ? WHERE id = ?`,
		clock.Store(clock.Now()), id); err != nil {
		return Feed{}, fmt.Errorf("feed token %s: %w", id, err)
	}
	notices, err := customerNotices(ctx, s.db, tenant.CustomerID(cust), "", clock.Now())
	if err != nil {
		return Feed{}, err
	}
	// An entry says what the panel says: every step's text, not only the
	// text first published.
	for i := range notices {
		if notices[i].Timeline, err = custTimeline(ctx, s.db, notices[i].ID); err != nil {
			return Feed{}, err
		}
	}
	return Feed{TokenID: id, Language: lang, Notices: notices}, nil
}

// Atom is the feed as an Atom 1.0 document. link gives the address of a
// path on the customer panel (identity.Service.Link); the feed's and the entries' IDs
// are tag URIs that do not depend on it. Every text is written by
// encoding/xml as escaped text (type="text"): markup a title or body holds
// reaches the reader as the characters it is, never as markup.
func (f Feed) Atom(link func(path string) string) ([]byte, error) {
	title := map[string]string{"ja": "tsunagi のお知らせ", "en": "tsunagi notices"}[f.Language]
	doc := atomFeed{Xmlns: "http://www.w3.org/2005/Atom", Lang: f.Language, ID: "tag:tsunagi,2026:notice-feed:" + f.TokenID,
		Title:   atomText{Type: "text", Text: title},
		Links:   []atomLink{{Rel: "alternate", Type: "text/html", Href: link("/notices")}},
		Updated: atomTime(clock.Now()), Author: atomAuthor{Name: "tsunagi"}}
	if len(f.Notices) > 0 {
		latest := f.Notices[0].UpdatedAt
		for _, n := range f.Notices {
			if n.UpdatedAt.After(latest) {
				latest = n.UpdatedAt
			}
		}
		doc.Updated = atomTime(latest)
	}
	for _, n := range f.Notices {
		content, err := entryText(n, f.Language)
		if err != nil {
			return nil, err
		}
		doc.Entries = append(doc.Entries, atomEntry{
			ID:        "tag:tsunagi,2026:notice:" + n.ID,
			Title:     atomText{Type: "text", Text: n.Title(f.Language)},
			Updated:   atomTime(n.UpdatedAt),
			Published: atomTime(n.PublishedAt),
			Links:     []atomLink{{Rel: "alternate", Type: "text/html", Href: link("/notices/" + n.ID)}},
			Categories: []atomCategory{{Term: n.Kind}, {Term: n.Category},
				{Term: "status:" + n.Status}},
			Content: atomText{Type: "text", Text: content},
		})
	}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("atom feed: %w", err)
	}
	return append([]byte(xml.Header), out...), nil
}

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

//go:embed feedtext/*.txt
var feedFiles embed.FS

// feedText is an entry's text, one file per language (feedtext/entry.<lang>.txt).
var feedText = template.Must(template.New("").Option("missingkey=error").ParseFS(feedFiles, "feedtext/*.txt"))

// feedStep is one step of an entry's text.
type feedStep struct{ At, Kind, Status, Text string }

// entryText is n's entry in lang: the window (JST), a security incident's
// data affected, and every customer-visible step with its text, newest
// first — what the panel's page of the notice says.
func entryText(n CustomerNotice, lang string) (string, error) {
	if lang != "en" {
		lang = "ja"
	}
	data := struct {
		Window, DataAffected string
		Steps                []feedStep
	}{DataAffected: n.DataAffected}
	if n.StartsAt != nil {
		data.Window = clock.Read(*n.StartsAt) + " –"
		if n.EndsAt != nil {
			data.Window += " " + clock.Read(*n.EndsAt)
		}
	}
	for i := len(n.Timeline) - 1; i >= 0; i-- {
		e := n.Timeline[i]
		text := e.BodyJA
		if lang == "en" {
			text = e.BodyEN
		}
		data.Steps = append(data.Steps, feedStep{At: clock.Read(e.At), Kind: e.Kind, Status: e.Status, Text: text})
	}
	var b strings.Builder
	if err := feedText.ExecuteTemplate(&b, "entry."+lang+".txt", data); err != nil {
		return "", fmt.Errorf("atom entry %s: %w", n.ID, err)
	}
	return strings.TrimSpace(b.String()), nil
}

type atomFeed struct {
	XMLName xml.Name    `xml:"feed"`
	Xmlns   string      `xml:"xmlns,attr"`
	Lang    string      `xml:"xml:lang,attr"`
	ID      string      `xml:"id"`
	Title   atomText    `xml:"title"`
	Links   []atomLink  `xml:"link"`
	Updated string      `xml:"updated"`
	Author  atomAuthor  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Text string `xml:",chardata"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomCategory struct {
	Term string `xml:"term,attr"`
}

type atomEntry struct {
	ID         string         `xml:"id"`
	Title      atomText       `xml:"title"`
	Updated    string         `xml:"updated"`
	Published  string         `xml:"published"`
	Links      []atomLink     `xml:"link"`
	Categories []atomCategory `xml:"category"`
	Content    atomText       `xml:"content"`
}
