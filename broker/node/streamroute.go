package node

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/api/grpcapi"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
	"github.com/nimbusmq/nimbus/broker/service"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// streamMetaMethods are the StreamService methods served by the meta
// leader (catalogue changes and reads, so a client reads its own writes).
var streamMetaMethods = map[string]bool{
	"CreateStream": true, "DeleteStream": true, "ListStreams": true, "DescribeStream": true,
	"DescribeStreamSummary": true, "ListShards": true, "SplitShard": true, "MergeShards": true, "UpdateShardCount": true,
}

// routeStream is the unary interceptor of StreamService. Catalogue
// methods go to the meta leader; PutRecord, GetShardIterator and
// GetRecords to the leader of their shard (by partition key, shard id,
// iterator); a PutRecords whose records fall in several shards is split
// here into one request per shard, sent in parallel, and the results are
// merged in request order. A request this node cannot route (a bad
// request, a stream its catalogue does not know yet) goes to the meta
// leader, or is served here when it is the meta leader, which refuses it.
func (n *Node) routeStream(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	svc, method, ok := splitMethod(info.FullMethod)
	if !ok || svc != nimbusv1.StreamService_ServiceDesc.ServiceName {
		return handler(ctx, req)
	}
	hops := hopsOf(ctx)
	if hops >= maxHops {
		return handler(ctx, req)
	}
	group, err := cluster.MetaGroup, error(nil)
	switch r := req.(type) {
	case *nimbusv1.PutRecordRequest:
		var st *catalog.Stream
		var j int
		st, j, err = n.svc.RouteRecord(r.GetStreamName(), service.PutRecordInput{PartitionKey: r.GetPartitionKey(),
			ExplicitHashKey: r.GetExplicitHashKey(), Data: r.GetData(), SequenceNumberForOrdering: r.GetSequenceNumberForOrdering()})
		if err == nil {
			group = st.Shards[j].Group
		}
	case *nimbusv1.PutRecordsRequest:
		var st *catalog.Stream
		var route []int
		st, route, err = n.svc.RouteRecords(r.GetStreamName(), grpcapi.PutInputs(r))
		if err == nil {
			if !oneShard(route) {
				return n.splitPutRecords(ctx, r, st, route, hops, info, handler)
			}
			group = st.Shards[route[0]].Group
		}
	case *nimbusv1.GetShardIteratorRequest:
		group, err = n.svc.ShardGroup(r.GetStreamName(), r.GetShardId())
	case *nimbusv1.GetRecordsRequest:
		if _, g, ok := service.IteratorShard(r.GetShardIterator()); ok {
			group = g
		}
	default:
		if !streamMetaMethods[method] {
			return handler(ctx, req)
		}
	}
	if err != nil {
		if !errors.Is(err, broker.ErrResourceNotFound) && broker.CodeOf(err) != broker.CodeUnknown {
			return nil, grpcapi.Status(err) // bad input: refused here, nothing changed
		}
		group = cluster.MetaGroup
	}
	return n.serveOn(ctx, group, hops, method, req, info, handler)
}

func oneShard(route []int) bool {
	for _, j := range route {
		if j != route[0] {
			return false
		}
	}
	return true
}

// splitPutRecords sends the records of each shard to the shard's leader
// as their own PutRecords, in parallel, and merges the results in request
// order. A shard whose call fails fails its records alone.
func (n *Node) splitPutRecords(ctx context.Context, r *nimbusv1.PutRecordsRequest, st *catalog.Stream, route []int, hops int,
	info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	byShard := map[int][]int{}
	var order []int
	for i, j := range route {
		if byShard[j] == nil {
			order = append(order, j)
		}
		byShard[j] = append(byShard[j], i)
	}
	resp := &nimbusv1.PutRecordsResponse{Records: make([]*nimbusv1.PutRecordsResultEntry, len(route))}
	var wg sync.WaitGroup
	for _, j := range order {
		wg.Add(1)
		go func(group uint64, idx []int) {
			defer wg.Done()
			sub := &nimbusv1.PutRecordsRequest{StreamName: r.GetStreamName(), Records: make([]*nimbusv1.PutRecordsRequestEntry, len(idx))}
			for k, i := range idx {
				sub.Records[k] = r.GetRecords()[i]
			}
			out, err := n.serveOn(ctx, group, hops, "PutRecords", sub, info, handler)
			res, ok := out.(*nimbusv1.PutRecordsResponse)
			if err == nil && (!ok || len(res.GetRecords()) != len(idx)) {
				err = broker.Errorf(broker.CodeUnknown, "shard %d answered %d results for %d records", group, len(res.GetRecords()), len(idx))
			}
			for k, i := range idx {
				if err != nil {
					resp.Records[i] = &nimbusv1.PutRecordsResultEntry{ErrorCode: reasonOf(err), ErrorMessage: status.Convert(err).Message()}
				} else {
					resp.Records[i] = res.GetRecords()[k]
				}
			}
		}(st.Shards[j].Group, byShard[j])
	}
	wg.Wait()
	for _, e := range resp.Records {
		if e.GetErrorCode() != "" {
			resp.FailedRecordCount++
		}
	}
	return resp, nil
}

// reasonOf returns the Nimbus code name an error carries (the ErrorInfo
// reason of a status); UNAVAILABLE when it carries none (a transport
// failure: the outcome is unknown and the caller may retry).
func reasonOf(err error) string {
	if c := broker.CodeOf(err); c != broker.CodeUnknown {
		return c.String()
	}
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetDomain() == grpcapi.ErrorDomain {
			return ei.GetReason()
		}
	}
	return broker.CodeUnavailable.String()
}
