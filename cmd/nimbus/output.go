package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/nimbusmq/nimbus/client"
)

// outputFormat is the value of -o/--output.
type outputFormat string

const (
	outputTable outputFormat = "table"
	outputJSON  outputFormat = "json"
)

func (f *outputFormat) String() string { return string(*f) }
func (f *outputFormat) Type() string   { return "format" }

// Set accepts "table" or "json"; anything else is a flag error.
func (f *outputFormat) Set(s string) error {
	switch outputFormat(s) {
	case outputTable, outputJSON:
		*f = outputFormat(s)
		return nil
	}
	return fmt.Errorf("must be table or json, not %q", s)
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeTable writes a header and rows aligned in columns. A nil header
// writes rows only.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if header != nil {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// writeMap writes m as sorted key/value rows (table) or a JSON object.
func writeMap(w io.Writer, f outputFormat, header []string, m map[string]string) error {
	if f == outputJSON {
		if m == nil {
			m = map[string]string{}
		}
		return writeJSON(w, m)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rows := make([][]string, len(keys))
	for i, k := range keys {
		rows[i] = []string{k, cell(m[k], 0)}
	}
	return writeTable(w, header, rows)
}

// cell makes s safe for one table cell: control characters (newlines, tabs)
// are escaped, and with limit > 0 it is cut to limit runes with "...".
func cell(s string, limit int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if limit > 0 && n == limit {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r == 0x7f {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
		n++
	}
	return b.String()
}

// jsonAttribute is a message attribute in JSON output; Binary values are
// base64 (encoding/json's []byte form).
type jsonAttribute struct {
	DataType    string `json:"data_type"`
	StringValue string `json:"string_value,omitempty"`
	BinaryValue []byte `json:"binary_value,omitempty"`
}

// jsonMessage is a received message in JSON output.
type jsonMessage struct {
	MessageID              string                   `json:"message_id"`
	ReceiptHandle          string                   `json:"receipt_handle"`
	Body                   string                   `json:"body"`
	MD5OfBody              string                   `json:"md5_of_body"`
	Attributes             map[string]string        `json:"attributes,omitempty"`
	MessageAttributes      map[string]jsonAttribute `json:"message_attributes,omitempty"`
	MD5OfMessageAttributes string                   `json:"md5_of_message_attributes,omitempty"`
}

// bodyCellLimit is how much of a body the receive table shows.
const bodyCellLimit = 60

// writeMessages prints received messages.
func writeMessages(w io.Writer, f outputFormat, msgs []client.Message) error {
	if f == outputJSON {
		out := make([]jsonMessage, len(msgs))
		for i, m := range msgs {
			out[i] = jsonMessage{
				MessageID: m.ID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, MD5OfBody: m.MD5OfBody,
				Attributes: m.Attributes, MD5OfMessageAttributes: m.MD5OfMessageAttributes,
			}
			if len(m.MessageAttributes) > 0 {
				out[i].MessageAttributes = make(map[string]jsonAttribute, len(m.MessageAttributes))
				for k, v := range m.MessageAttributes {
					out[i].MessageAttributes[k] = jsonAttribute(v)
				}
			}
		}
		return writeJSON(w, out)
	}
	rows := make([][]string, len(msgs))
	for i, m := range msgs {
		rows[i] = []string{m.ID, strconv.Itoa(m.ReceiveCount()), cell(m.Body, bodyCellLimit), cell(formatAttrs(m.MessageAttributes), bodyCellLimit)}
	}
	return writeTable(w, []string{"MESSAGE ID", "RECEIVES", "BODY", "ATTRIBUTES"}, rows)
}

// formatAttrs renders message attributes as "name=value" pairs, sorted,
// with the type for non-strings ("n:Number=5") and Binary as base64: the
// syntax `nimbus send --attr` accepts.
func formatAttrs(m map[string]client.AttributeValue) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = formatAttr(k, m[k])
	}
	return strings.Join(parts, " ")
}

func formatAttr(name string, v client.AttributeValue) string {
	switch {
	case v.DataType == "String":
		return name + "=" + v.StringValue
	case strings.HasPrefix(v.DataType, "Binary"):
		return name + ":" + v.DataType + "=" + encodeBase64(v.BinaryValue)
	}
	return name + ":" + v.DataType + "=" + v.StringValue
}
