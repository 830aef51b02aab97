package node

import (
	"regexp"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/service"
)

// The tenant namespace at the gRPC edge: a request's resource references
// are rewritten from the caller's user-visible names to internal names
// ("acme~orders") before it is routed, and the response's back, by field
// name over every public message (protobuf reflection), so no service,
// engine or routing code knows about tenants. See DESIGN.md
// "Authentication and tenants".

// refFields are the string fields that hold a resource reference (a name,
// an ARN, a queue URL or "kind:NAME"), in requests and responses.
var refFields = map[protoreflect.Name]bool{
	"queue_name": true, "queue_name_prefix": true, "queue_url": true, "queue_urls": true,
	"topic_arn": true, "topic_arns": true, "subscription_arn": true,
	"stream_name": true, "stream_names": true, "exclusive_start_stream_name": true, "stream_arn": true, "consumer_arn": true,
	"source_arn": true, "destination_arn": true, "source": true, "on_failure": true, "name": true, "arn": true,
}

// attrFields are map<string,string> fields whose values may hold ARNs
// (redrive policies, a queue's QueueArn, a message's
// DeadLetterQueueSourceArn).
var attrFields = map[protoreflect.Name]bool{"attributes": true}

// arnPattern finds ARNs of this broker inside attribute values (JSON).
var arnPattern = regexp.MustCompile(`arn:aws:(sqs|sns|kinesis|lambda):[a-z0-9-]*:[0-9]{12}:[A-Za-z0-9_.:/~-]+`)

// mapRequest rewrites m's resource references into ns's internal names
// in place and returns the user-visible resource names it names (for
// scopes). It refuses a name containing auth.Sep and an ARN of another
// account.
func mapRequest(ns auth.Namespace, m proto.Message) ([]string, error) {
	var names []string
	err := walkRequest(ns, m.ProtoReflect(), &names)
	return names, err
}

func walkRequest(ns auth.Namespace, m protoreflect.Message, names *[]string) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := fd.Name()
		switch {
		case fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				err = walkRequest(ns, mv.Message(), names)
				return err == nil
			})
		case fd.IsMap() && fd.MapValue().Kind() == protoreflect.StringKind && attrFields[name]:
			mp := v.Map()
			mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				var s string
				if s, err = mapARNs(ns, mv.String()); err == nil {
					mp.Set(k, protoreflect.ValueOfString(s))
				}
				return err == nil
			})
		case fd.IsMap():
		case fd.Kind() == protoreflect.MessageKind && fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = walkRequest(ns, l.Get(i).Message(), names)
			}
		case fd.Kind() == protoreflect.MessageKind:
			err = walkRequest(ns, v.Message(), names)
		case fd.Kind() != protoreflect.StringKind:
		case fd.IsList() && refFields[name]:
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				var s string
				if s, err = mapRef(ns, l.Get(i).String(), names); err == nil {
					l.Set(i, protoreflect.ValueOfString(s))
				}
			}
		case name == "endpoint" && !fd.IsList():
			// A subscription endpoint names a resource for the queue,
			// stream and function protocols, else it is a URL or address.
			s := v.String()
			if p := m.Descriptor().Fields().ByName("protocol"); strings.HasPrefix(s, "arn:") || p != nil && m.Get(p).String() == "function" {
				if s, err = mapRef(ns, s, names); err == nil {
					m.Set(fd, protoreflect.ValueOfString(s))
				}
			}
		case refFields[name] && !fd.IsList() && !fd.IsMap():
			var s string
			if s, err = mapRef(ns, v.String(), names); err == nil {
				m.Set(fd, protoreflect.ValueOfString(s))
			}
		}
		return err == nil
	})
	return err
}

func mapRef(ns auth.Namespace, s string, names *[]string) (string, error) {
	if s == "" {
		return s, nil
	}
	*names = append(*names, auth.ResourceName(s))
	return ns.Ref(s)
}

// mapARNs rewrites every ARN inside an attribute value.
func mapARNs(ns auth.Namespace, s string) (string, error) {
	if !strings.Contains(s, "arn:") {
		return s, nil
	}
	var err error
	out := arnPattern.ReplaceAllStringFunc(s, func(a string) string {
		r, e := ns.Ref(a)
		if e != nil && err == nil {
			err = e
		}
		return r
	})
	return out, err
}

// mapResponse rewrites m's internal names of ns to user-visible ones in
// place, and drops the list entries naming another tenant's resources
// (list results).
func mapResponse(ns auth.Namespace, m proto.Message) {
	if m == nil {
		return
	}
	walkResponse(ns, m.ProtoReflect())
}

func walkResponse(ns auth.Namespace, m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := fd.Name()
		switch {
		case fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				walkResponse(ns, mv.Message())
				return true
			})
		case fd.IsMap() && fd.MapValue().Kind() == protoreflect.StringKind && attrFields[name]:
			mp := v.Map()
			mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				mp.Set(k, protoreflect.ValueOfString(ns.ToUser(mv.String())))
				return true
			})
		case fd.IsMap():
		case fd.Kind() == protoreflect.MessageKind && fd.IsList():
			l := v.List()
			kept := 0
			for i := 0; i < l.Len(); i++ {
				e := l.Get(i)
				if foreignMessage(ns, e.Message()) {
					continue
				}
				walkResponse(ns, e.Message())
				l.Set(kept, e)
				kept++
			}
			l.Truncate(kept)
		case fd.Kind() == protoreflect.MessageKind:
			walkResponse(ns, v.Message())
		case fd.Kind() != protoreflect.StringKind:
		case fd.IsList() && refFields[name]:
			l := v.List()
			kept := 0
			for i := 0; i < l.Len(); i++ {
				s := l.Get(i).String()
				if ns.Foreign(s) {
					continue
				}
				l.Set(kept, protoreflect.ValueOfString(ns.ToUser(s)))
				kept++
			}
			l.Truncate(kept)
		case (refFields[name] || name == "endpoint") && !fd.IsList():
			m.Set(fd, protoreflect.ValueOfString(ns.ToUser(v.String())))
		}
		return true
	})
}

// foreignMessage reports whether a list entry names another tenant's
// resource in one of its reference fields (at any depth).
func foreignMessage(ns auth.Namespace, m protoreflect.Message) bool {
	foreign := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap() || fd.IsList():
		case fd.Kind() == protoreflect.MessageKind:
			foreign = foreignMessage(ns, v.Message())
		case fd.Kind() == protoreflect.StringKind && (refFields[fd.Name()] || fd.Name() == "endpoint"):
			foreign = ns.Foreign(v.String())
		}
		return !foreign
	})
	return foreign
}

// opaqueOwner checks the resources named inside opaque tokens of a
// request (a shard iterator, a message move task handle) against ns, and
// returns their user-visible names.
func opaqueOwner(ns auth.Namespace, m proto.Message) ([]string, error) {
	var internal []string
	switch r := m.(type) {
	case interface{ GetShardIterator() string }:
		if st, _, ok := service.IteratorShard(r.GetShardIterator()); ok {
			internal = append(internal, st)
		}
	case interface{ GetTaskHandle() string }:
		if src, _, err := catalog.DecodeMoveTaskHandle(r.GetTaskHandle()); err == nil {
			internal = append(internal, src)
		}
	}
	var names []string
	for _, n := range internal {
		if auth.TenantOf(n) != ns.Tenant() {
			return nil, broker.Errorf(broker.CodePermissionDenied, "the token names a resource of another tenant")
		}
		names = append(names, ns.ToUser(n))
	}
	return names, nil
}
