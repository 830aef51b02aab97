package grpcapi

import (
	"context"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Dead-letter tooling. The node routes these methods to the meta leader
// (catalogue reads and writes); the tasks themselves run on the leader of
// each source queue's partition (see broker/service).

func (s *QueueServer) ListDeadLetterSourceQueues(ctx context.Context, r *nimbusv1.ListDeadLetterSourceQueuesRequest) (*nimbusv1.ListDeadLetterSourceQueuesResponse, error) {
	names, next, err := s.svc.ListDeadLetterSourceQueues(name(r.GetQueueName()), int(r.GetMaxResults()), r.GetNextToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &nimbusv1.ListDeadLetterSourceQueuesResponse{NextToken: next}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, s.svc.QueueURL(n))
	}
	return out, nil
}

func (s *QueueServer) StartMessageMoveTask(ctx context.Context, r *nimbusv1.StartMessageMoveTaskRequest) (*nimbusv1.StartMessageMoveTaskResponse, error) {
	h, err := s.svc.StartMessageMoveTask(ctx, r.GetSourceArn(), r.GetDestinationArn(), int(r.GetMaxNumberOfMessagesPerSecond()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.StartMessageMoveTaskResponse{TaskHandle: h}, nil
}

func (s *QueueServer) ListMessageMoveTasks(ctx context.Context, r *nimbusv1.ListMessageMoveTasksRequest) (*nimbusv1.ListMessageMoveTasksResponse, error) {
	ts, err := s.svc.ListMessageMoveTasks(r.GetSourceArn(), int(r.GetMaxResults()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &nimbusv1.ListMessageMoveTasksResponse{}
	for _, t := range ts {
		out.Results = append(out.Results, &nimbusv1.MessageMoveTask{
			TaskHandle: t.Handle, Status: t.Status, SourceArn: t.SourceArn, DestinationArn: t.DestinationArn,
			MaxNumberOfMessagesPerSecond: int32(t.Rate), ApproximateNumberOfMessagesMoved: t.Moved,
			ApproximateNumberOfMessagesToMove: t.ToMove, FailureReason: t.FailureReason, StartedTimestamp: t.StartedMs,
		})
	}
	return out, nil
}

func (s *QueueServer) CancelMessageMoveTask(ctx context.Context, r *nimbusv1.CancelMessageMoveTaskRequest) (*nimbusv1.CancelMessageMoveTaskResponse, error) {
	moved, err := s.svc.CancelMessageMoveTask(ctx, r.GetTaskHandle())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.CancelMessageMoveTaskResponse{ApproximateNumberOfMessagesMoved: moved}, nil
}
