package node

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/api/grpcapi"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// routeTopic is the unary interceptor of TopicService. Publish and
// PublishBatch go to the leader of their partition: a FIFO topic's by
// message group, a standard topic's to this node when it leads any of
// the topic's partitions (the service picks one it leads), else to the
// first partition's leader. A FIFO PublishBatch whose groups fall in
// several partitions is split here into one request per partition, sent
// in parallel, and the results merged. Every other method (catalogue
// changes and reads, ReplaySubscription) goes to the meta leader; so does
// a publish to a topic this node's catalogue does not know yet.
func (n *Node) routeTopic(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	svc, method, ok := splitMethod(info.FullMethod)
	if !ok || svc != nimbusv1.TopicService_ServiceDesc.ServiceName {
		return handler(ctx, req)
	}
	hops := hopsOf(ctx)
	if hops >= maxHops {
		return handler(ctx, req)
	}
	group, err := cluster.MetaGroup, error(nil)
	switch r := req.(type) {
	case *nimbusv1.PublishRequest:
		var t *catalog.Topic
		var parts []uint64
		t, parts, err = n.svc.PublishRoute(r.GetTopicArn(), []string{r.GetMessageGroupId()})
		if err == nil {
			group = n.publishGroup(t, parts)
		}
	case *nimbusv1.PublishBatchRequest:
		gids := make([]string, len(r.GetEntries()))
		for i, e := range r.GetEntries() {
			gids[i] = e.GetMessageGroupId()
		}
		var t *catalog.Topic
		var parts []uint64
		t, parts, err = n.svc.PublishRoute(r.GetTopicArn(), gids)
		if err == nil {
			if t.Fifo && !onePartition(parts) {
				return n.splitPublishBatch(ctx, r, parts, hops, info, handler)
			}
			group = n.publishGroup(t, parts)
		}
	}
	if err != nil {
		if !errors.Is(err, broker.ErrTopicNotFound) && broker.CodeOf(err) != broker.CodeUnknown {
			return nil, grpcapi.Status(err) // bad input: refused here, nothing changed
		}
		group = cluster.MetaGroup
	}
	return n.serveOn(ctx, group, hops, method, req, info, handler)
}

// publishGroup returns the group to serve a publish on: a FIFO topic's
// partition of the (first) message group; for a standard topic a
// partition this node leads, else the first.
func (n *Node) publishGroup(t *catalog.Topic, parts []uint64) uint64 {
	if t.Fifo && len(parts) > 0 {
		return parts[0]
	}
	for _, g := range t.Groups() {
		if n.host.IsLeader(g) {
			return g
		}
	}
	return t.Group
}

func onePartition(parts []uint64) bool {
	for _, p := range parts {
		if p != parts[0] {
			return false
		}
	}
	return true
}

// splitPublishBatch sends the entries of each partition to the
// partition's leader as their own PublishBatch, in parallel, and merges
// the results. A partition whose call fails fails its entries alone.
func (n *Node) splitPublishBatch(ctx context.Context, r *nimbusv1.PublishBatchRequest, parts []uint64, hops int,
	info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	byPart := map[uint64][]int{}
	var order []uint64
	for i, p := range parts {
		if byPart[p] == nil {
			order = append(order, p)
		}
		byPart[p] = append(byPart[p], i)
	}
	resp := &nimbusv1.PublishBatchResponse{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range order {
		wg.Add(1)
		go func(group uint64, idx []int) {
			defer wg.Done()
			sub := &nimbusv1.PublishBatchRequest{TopicArn: r.GetTopicArn(), Entries: make([]*nimbusv1.PublishBatchRequestEntry, len(idx))}
			for k, i := range idx {
				sub.Entries[k] = r.GetEntries()[i]
			}
			out, err := n.serveOn(ctx, group, hops, "PublishBatch", sub, info, handler)
			mu.Lock()
			defer mu.Unlock()
			res, ok := out.(*nimbusv1.PublishBatchResponse)
			if err != nil || !ok {
				if err == nil {
					err = broker.Errorf(broker.CodeUnknown, "partition %d answered %T", group, out)
				}
				for _, e := range sub.GetEntries() {
					resp.Failed = append(resp.Failed, &nimbusv1.BatchResultErrorEntry{Id: e.GetId(), Code: reasonOf(err),
						Message: status.Convert(err).Message()})
				}
				return
			}
			resp.Successful = append(resp.Successful, res.GetSuccessful()...)
			resp.Failed = append(resp.Failed, res.GetFailed()...)
		}(p, byPart[p])
	}
	wg.Wait()
	return resp, nil
}
