-- The notifier mirrors people's acknowledges and resolves (lifecycle events) to the channels it told:
-- those deliveries are triggered by a lifecycle event, a fourth trigger kind.

ALTER TABLE deliveries DROP CONSTRAINT deliveries_trigger_kind_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_trigger_kind_check
    CHECK (trigger_kind IN ('decision', 'sla', 'digest', 'lifecycle'));
