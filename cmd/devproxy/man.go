package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/muesli/mango"
	mcobra "github.com/muesli/mango-cobra"
	"github.com/muesli/roff"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newManCmd prints devproxy(1) in roff for the whole command tree. It is
// hidden: release builds run it (scripts/gen-docs) to ship the page in the
// archives and the Homebrew cask.
func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "man",
		Short:  "Print the devproxy(1) man page in roff",
		Hidden: true,
		Args:   cobra.NoArgs,
		Example: `  devproxy man | man -l -
  devproxy man | gzip -c -9 > devproxy.1.gz`,
		RunE: func(cmd *cobra.Command, args []string) error {
			page, err := mcobra.NewManPage(1, cmd.Root())
			if err != nil {
				return fmt.Errorf("man: %w", err)
			}
			delete(page.Root.Commands, "help") // cobra's; says nothing a man page should
			dropHiddenFlags(&page.Root, cmd.Root())
			m := &manRoff{date: manDate()}
			page.Build(m)
			writeManSections(m, cmd.Root())
			_, err = fmt.Fprint(cmd.OutOrStdout(), m.String())
			return err
		},
	}
}

// dropHiddenFlags takes the flags a command hides off its part of the page:
// mango lists every flag, and a hidden one is there only so that something
// is accepted (replay's --no-tui), not to be used.
func dropHiddenFlags(mc *mango.Command, c *cobra.Command) {
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			delete(mc.Flags, f.Name)
		}
	})
	for _, sub := range c.Commands() {
		if msub := mc.Commands[sub.Name()]; msub != nil {
			dropHiddenFlags(msub, sub)
		}
	}
}

// manDate is the date in the page's header: SOURCE_DATE_EPOCH when set (the
// reproducible-builds convention; scripts/gen-docs sets it to the commit
// time), else today. mango would always use today.
func manDate() time.Time {
	if sec, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		return time.Unix(sec, 0).UTC()
	}
	return time.Now().UTC()
}

// manRoff is a mango.Builder writing roff with muesli/roff's macros. It differs
// from roff.Document in how it lays out text, which it reads the way cobra help
// text is written: the lines of a paragraph are joined and filled, a blank line
// starts a new paragraph, and lines indented by two spaces or a tab (examples)
// are kept verbatim instead of becoming one paragraph each. It also turns off
// hyphenation, so flags and paths are never split.
type manRoff struct {
	b    strings.Builder
	date time.Time
}

func (m *manRoff) Heading(section uint, title, description string, _ time.Time) {
	m.line(fmt.Sprintf(roff.TitleHeading, strings.ToUpper(title), section, title, m.date.Format("2006-01-02"), description))
	m.line(".nh")
	m.line(".ad l")
}

func (m *manRoff) Paragraph()  { m.line(macro(roff.Paragraph)) }
func (m *manRoff) IndentEnd()  { m.line(macro(roff.IndentEnd)) }
func (m *manRoff) EndSection() { m.endLine() }

func (m *manRoff) Indent(n int) {
	if n < 0 {
		m.line(macro(roff.Indent))
		return
	}
	m.line(fmt.Sprintf("%s %d", macro(roff.Indent), n))
}

func (m *manRoff) TaggedParagraph(n int) {
	if n < 0 {
		m.line(macro(roff.TaggedParagraph))
		return
	}
	m.line(fmt.Sprintf("%s %d", macro(roff.TaggedParagraph), n))
}

func (m *manRoff) List(text string) {
	m.line(macro(roff.IndentedParagraph) + ` \(bu 3`)
	m.line(manEscape(strings.TrimSpace(text)))
}

func (m *manRoff) Section(text string) {
	m.line(fmt.Sprintf(macro(roff.SectionHeading), strings.ToUpper(text)))
}

// subsection starts a subsection (.SS) of the current section.
func (m *manRoff) subsection(title string) {
	m.line(".SS " + manEscape(title))
}

// item writes a tagged paragraph: tag in bold, then text indented below it.
func (m *manRoff) item(tag, text string) {
	m.TaggedParagraph(-1)
	m.TextBold(tag)
	m.endLine()
	m.Text(text)
}

func (m *manRoff) TextBold(text string) {
	m.b.WriteString(roff.Bold)
	m.Text(text)
	m.b.WriteString(roff.PreviousFont)
}

func (m *manRoff) TextItalic(text string) {
	m.b.WriteString(roff.Italic)
	m.Text(text)
	m.b.WriteString(roff.PreviousFont)
}

func (m *manRoff) String() string {
	m.endLine()
	return m.b.String()
}

// Text writes a fragment of a line as it is (mango builds the synopsis and
// option tags from fragments), and anything with more than one line, or that
// starts indented, as paragraphs and verbatim blocks.
func (m *manRoff) Text(text string) {
	if !strings.Contains(text, "\n") && !isVerbatim(text) {
		m.b.WriteString(manEscape(text))
		return
	}
	for i, blk := range manBlocks(text) {
		if i > 0 {
			m.Paragraph()
		}
		if !blk.verbatim {
			m.b.WriteString(manEscape(strings.Join(blk.lines, " ")))
			continue
		}
		m.line(".nf")
		for _, l := range blk.lines {
			m.line(manEscape(l))
		}
		m.line(".fi")
	}
}

// line writes s on a line of its own.
func (m *manRoff) line(s string) {
	m.endLine()
	m.b.WriteString(s)
	m.b.WriteByte('\n')
}

func (m *manRoff) endLine() {
	if s := m.b.String(); s != "" && !strings.HasSuffix(s, "\n") {
		m.b.WriteByte('\n')
	}
}

// macro is one of roff's constants without the newline it starts with.
func macro(s string) string { return strings.TrimPrefix(s, "\n") }

type manBlock struct {
	lines    []string
	verbatim bool
}

// manBlocks splits help text into paragraphs and verbatim blocks.
func manBlocks(text string) []manBlock {
	var blocks []manBlock
	var cur *manBlock
	for _, l := range strings.Split(strings.Trim(text, "\n"), "\n") {
		if strings.TrimSpace(l) == "" {
			cur = nil
			continue
		}
		v := isVerbatim(l)
		if cur == nil || cur.verbatim != v {
			blocks = append(blocks, manBlock{verbatim: v})
			cur = &blocks[len(blocks)-1]
		}
		if !v {
			l = strings.TrimSpace(l)
		}
		cur.lines = append(cur.lines, strings.TrimRight(l, " \t"))
	}
	return blocks
}

func isVerbatim(line string) bool {
	return strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "\t")
}

// manEscape makes text literal in roff: backslashes print, hyphens are ASCII
// minus signs (so flags copied from the page work), and a line cannot start
// a request.
func manEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
