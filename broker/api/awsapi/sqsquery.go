package awsapi

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// The query protocol's parameter encoding, driven by the json and aws tags
// of the shapes in sqsshapes.go:
//
//	scalar          Name=value
//	list            Name.1=a&Name.2=b                     (aws tag: element name)
//	map             Name.1.Key=k&Name.1.Value=v            (aws tag: entry,key,value)
//	list of structs Name.1.Field=...&Name.1.Sub.1.Key=...
//
// Indexes are positive decimal integers without leading zeros, taken in
// numeric order (gaps are allowed, as the SDKs never leave any). Keys not
// named by the shape are ignored (Action, Version, AWSAccessKeyId, ...).
// Responses use the same names as XML elements, with lists and maps
// flattened (repeated elements), as the SQS query API does.

// formNode is one dotted segment of the form's keys: "Attribute.1.Name"
// is root → "Attribute" → "1" → "Name".
type formNode struct {
	value    *string
	children map[string]*formNode
}

// formTree indexes form keys by their dotted segments, so decoding is
// linear in the form's size whatever its nesting.
func formTree(form url.Values) *formNode {
	root := &formNode{}
	for k, vs := range form {
		if len(vs) == 0 {
			continue
		}
		n := root
		for seg := range strings.SplitSeq(k, ".") {
			if n.children == nil {
				n.children = map[string]*formNode{}
			}
			c := n.children[seg]
			if c == nil {
				c = &formNode{}
				n.children[seg] = c
			}
			n = c
		}
		v := vs[0]
		n.value = &v
	}
	return root
}

func (n *formNode) child(name string) *formNode {
	if n == nil {
		return nil
	}
	return n.children[name]
}

// indexes returns n's numbered children in numeric order; any other child
// is an error naming path.
func (n *formNode) indexes(path string) ([]*formNode, error) {
	if n == nil || len(n.children) == 0 {
		return nil, nil
	}
	type item struct {
		i int
		n *formNode
	}
	items := make([]item, 0, len(n.children))
	for k, c := range n.children {
		i, err := strconv.Atoi(k)
		if err != nil || i < 1 || strconv.Itoa(i) != k {
			return nil, queryParamError(path+"."+k, "is not a numbered list or map member")
		}
		items = append(items, item{i, c})
	}
	sort.Slice(items, func(a, b int) bool { return items[a].i < items[b].i })
	out := make([]*formNode, len(items))
	for k, it := range items {
		out[k] = it.n
	}
	return out, nil
}

func queryParamError(path, why string) *sqsError {
	return newSQSError(sqsInvalidParameter, "parameter "+path+" "+why)
}

// queryNames returns a field's parameter name and, for maps, its key and
// value names.
func queryNames(f reflect.StructField) (name, key, value string) {
	name, _, _ = strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		name = f.Name
	}
	if tag := f.Tag.Get("aws"); tag != "" {
		parts := strings.Split(tag, ",")
		name = parts[0]
		if len(parts) == 3 {
			key, value = parts[1], parts[2]
		}
	}
	return name, key, value
}

// decodeQuery fills the shape *v (a pointer to a struct of sqsshapes.go)
// from a query protocol form. Errors are *sqsError InvalidParameterValue.
func decodeQuery(form url.Values, v any) error {
	return decodeQueryStruct(formTree(form), "", reflect.ValueOf(v).Elem())
}

func decodeQueryStruct(n *formNode, prefix string, sv reflect.Value) error {
	t := sv.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, key, value := queryNames(f)
		c := n.child(name)
		if c == nil {
			continue
		}
		if err := decodeQueryField(c, prefix+name, key, value, sv.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

func decodeQueryField(n *formNode, path, key, value string, fv reflect.Value) error {
	switch fv.Kind() {
	case reflect.Map:
		entries, err := n.indexes(path)
		if err != nil {
			return err
		}
		m := reflect.MakeMapWithSize(fv.Type(), len(entries))
		for k, e := range entries {
			epath := path + "." + strconv.Itoa(k+1)
			kn := e.child(key)
			if kn == nil || kn.value == nil {
				return queryParamError(epath+"."+key, "is missing")
			}
			kv := reflect.ValueOf(*kn.value)
			if m.MapIndex(kv).IsValid() {
				return queryParamError(epath+"."+key, fmt.Sprintf("repeats the key %q", *kn.value))
			}
			ev := reflect.New(fv.Type().Elem()).Elem()
			vn := e.child(value)
			if vn == nil {
				return queryParamError(epath+"."+value, "is missing")
			}
			if err := decodeQueryField(vn, epath+"."+value, "", "", ev); err != nil {
				return err
			}
			m.SetMapIndex(kv, ev)
		}
		fv.Set(m)
		return nil
	case reflect.Slice:
		if fv.Type().Elem().Kind() == reflect.Uint8 { // []byte: base64
			return decodeQueryScalar(n, path, fv)
		}
		items, err := n.indexes(path)
		if err != nil {
			return err
		}
		s := reflect.MakeSlice(fv.Type(), len(items), len(items))
		for k, it := range items {
			if err := decodeQueryField(it, path+"."+strconv.Itoa(k+1), "", "", s.Index(k)); err != nil {
				return err
			}
		}
		fv.Set(s)
		return nil
	case reflect.Struct:
		return decodeQueryStruct(n, path+".", fv)
	}
	return decodeQueryScalar(n, path, fv)
}

func decodeQueryScalar(n *formNode, path string, fv reflect.Value) error {
	if n.value == nil {
		return queryParamError(path, "needs a value")
	}
	s := *n.value
	if fv.Kind() == reflect.Pointer {
		p := reflect.New(fv.Type().Elem())
		if err := setQueryScalar(s, path, p.Elem()); err != nil {
			return err
		}
		fv.Set(p)
		return nil
	}
	return setQueryScalar(s, path, fv)
}

func setQueryScalar(s, path string, fv reflect.Value) error {
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(s)
	case reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, fv.Type().Bits())
		if err != nil {
			return queryParamError(path, fmt.Sprintf("value %q is not an integer", s))
		}
		fv.SetInt(i)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return queryParamError(path, fmt.Sprintf("value %q is not true or false", s))
		}
		fv.SetBool(b)
	case reflect.Slice: // []byte
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return queryParamError(path, "is not valid base64")
		}
		fv.SetBytes(b)
	default:
		return queryParamError(path, "has an unsupported type")
	}
	return nil
}

// encodeXML writes the fields of the shape v (a struct or a pointer to
// one) as XML elements into b: flattened lists and maps, base64 blobs,
// members with json "omitempty" left out when empty.
func encodeXML(b *bytes.Buffer, v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return
		}
		rv = rv.Elem()
	}
	encodeXMLStruct(b, rv)
}

func encodeXMLStruct(b *bytes.Buffer, sv reflect.Value) {
	t := sv.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		fv := sv.Field(i)
		omitEmpty := strings.Contains(f.Tag.Get("json"), ",omitempty")
		if omitEmpty && fv.IsZero() {
			continue
		}
		name, key, value := queryNames(f)
		encodeXMLField(b, name, key, value, fv)
	}
}

func encodeXMLField(b *bytes.Buffer, name, key, value string, fv reflect.Value) {
	switch fv.Kind() {
	case reflect.Pointer:
		if !fv.IsNil() {
			encodeXMLField(b, name, key, value, fv.Elem())
		}
	case reflect.Map:
		keys := fv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			b.WriteString("<" + name + ">")
			xmlElem(b, key, k.String())
			encodeXMLField(b, value, "", "", fv.MapIndex(k))
			b.WriteString("</" + name + ">")
		}
	case reflect.Slice:
		if fv.Type().Elem().Kind() == reflect.Uint8 {
			xmlElem(b, name, base64.StdEncoding.EncodeToString(fv.Bytes()))
			return
		}
		for i := 0; i < fv.Len(); i++ {
			encodeXMLField(b, name, "", "", fv.Index(i))
		}
	case reflect.Struct:
		b.WriteString("<" + name + ">")
		encodeXMLStruct(b, fv)
		b.WriteString("</" + name + ">")
	case reflect.String:
		xmlElem(b, name, fv.String())
	case reflect.Int32, reflect.Int64:
		xmlElem(b, name, strconv.FormatInt(fv.Int(), 10))
	case reflect.Bool:
		xmlElem(b, name, strconv.FormatBool(fv.Bool()))
	}
}

// xmlElem writes <name>text</name>, escaping text (CR, LF and tabs as
// character references, so a body's line ends survive XML parsing).
func xmlElem(b *bytes.Buffer, name, text string) {
	b.WriteString("<" + name + ">")
	_ = xml.EscapeText(b, []byte(text))
	b.WriteString("</" + name + ">")
}
