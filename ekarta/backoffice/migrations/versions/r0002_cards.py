"""Cards, holders, coupons, blocks, fees, actions, the journal, purges and the feeds.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('counters',
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counters'))
    )
    op.create_table('entitlements',
    sa.Column('card_number', sa.BigInteger(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('removed', sa.Boolean(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('card_number', name=op.f('pk_entitlements'))
    )
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entitlements_seq'), ['seq'], unique=False)

    op.create_table('feed_floors',
    sa.Column('feed', sa.String(length=16), nullable=False),
    sa.Column('floor', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('feed', name=op.f('pk_feed_floors'))
    )
    op.create_table('holders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('first_name', sa.String(length=26), nullable=False),
    sa.Column('surname', sa.String(length=26), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('photo_ref', sa.String(length=200), nullable=True),
    sa.Column('contact', sa.String(length=200), nullable=True),
    sa.Column('purge_after', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holders'))
    )
    with op.batch_alter_table('holders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holders_purge_after'), ['purge_after'], unique=False)

    op.create_table('hotlist',
    sa.Column('card_number', sa.BigInteger(), nullable=False),
    sa.Column('uid', sa.LargeBinary(length=10), nullable=True),
    sa.Column('expiry', sa.Date(), nullable=False),
    sa.Column('removed', sa.Boolean(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('card_number', name=op.f('pk_hotlist'))
    )
    with op.batch_alter_table('hotlist', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hotlist_seq'), ['seq'], unique=False)

    op.create_table('purges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('holders', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purges'))
    )
    op.create_table('cards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_number', sa.BigInteger(), nullable=False),
    sa.Column('uid', sa.LargeBinary(length=10), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('profile', sa.String(length=32), nullable=False),
    sa.Column('profile_end', sa.Date(), nullable=True),
    sa.Column('expiry', sa.Date(), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('produced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('loan_until', sa.Date(), nullable=True),
    sa.Column('return_by', sa.Date(), nullable=True),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('purse_balance', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_cards_holder_id_holders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['replaces_id'], ['cards.id'], name=op.f('fk_cards_replaces_id_cards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cards')),
    sa.UniqueConstraint('card_number', name=op.f('uq_cards_card_number')),
    sa.UniqueConstraint('uid', name=op.f('uq_cards_uid'))
    )
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cards_expiry'), ['expiry'], unique=False)
        batch_op.create_index(batch_op.f('ix_cards_holder_id'), ['holder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cards_replaces_id'), ['replaces_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cards_return_by'), ['return_by'], unique=False)
        batch_op.create_index(batch_op.f('ix_cards_status'), ['status'], unique=False)

    op.create_table('journal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('card_number', sa.BigInteger(), nullable=True),
    sa.Column('result', sa.SmallInteger(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=True),
    sa.Column('vehicle', sa.Integer(), nullable=True),
    sa.Column('zone', sa.SmallInteger(), nullable=True),
    sa.Column('coupon_serial', sa.BigInteger(), nullable=True),
    sa.Column('action_id', sa.BigInteger(), nullable=True),
    sa.Column('amount', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_journal_device_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal')),
    sa.UniqueConstraint('event_id', name=op.f('uq_journal_event_id'))
    )
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journal_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_journal_card_number'), ['card_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_journal_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_journal_kind'), ['kind'], unique=False)

    op.create_table('blocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unblocked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_blocks_card_id_cards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blocks'))
    )
    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_blocks_card_id'), ['card_id'], unique=False)

    op.create_table('card_coupons',
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.BigInteger(), nullable=False),
    sa.Column('slot', sa.LargeBinary(), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_card_coupons_card_id_cards')),
    sa.PrimaryKeyConstraint('card_id', 'serial', name=op.f('pk_card_coupons'))
    )
    op.create_table('coupons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.BigInteger(), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('slot', sa.LargeBinary(), nullable=False),
    sa.Column('sold_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('moved_from', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_coupons_card_id_cards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons')),
    sa.UniqueConstraint('serial', name=op.f('uq_coupons_serial'))
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupons_card_id'), ['card_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupons_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupons_valid_to'), ['valid_to'], unique=False)

    op.create_table('fees',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_fees_card_id_cards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fees'))
    )
    with op.batch_alter_table('fees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fees_card_id'), ['card_id'], unique=False)

    op.create_table('actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('coupon_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_device_id', sa.Integer(), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_actions_card_id_cards')),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_actions_coupon_id_coupons')),
    sa.ForeignKeyConstraint(['lease_device_id'], ['devices.id'], name=op.f('fk_actions_lease_device_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_actions'))
    )
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_actions_card_id'), ['card_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_actions_seq'), ['seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_actions_state'), ['state'], unique=False)

    # the counters exist from the start, so that taking a number is always one UPDATE
    op.bulk_insert(sa.table("counters", sa.column("name", sa.String()),
                            sa.column("value", sa.BigInteger())),
                   [{"name": "feed", "value": 0}, {"name": "serial", "value": 0}])


def downgrade() -> None:
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_actions_state'))
        batch_op.drop_index(batch_op.f('ix_actions_seq'))
        batch_op.drop_index(batch_op.f('ix_actions_card_id'))

    op.drop_table('actions')
    with op.batch_alter_table('fees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fees_card_id'))

    op.drop_table('fees')
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupons_valid_to'))
        batch_op.drop_index(batch_op.f('ix_coupons_state'))
        batch_op.drop_index(batch_op.f('ix_coupons_card_id'))

    op.drop_table('coupons')
    op.drop_table('card_coupons')
    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_blocks_card_id'))

    op.drop_table('blocks')
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journal_kind'))
        batch_op.drop_index(batch_op.f('ix_journal_device_id'))
        batch_op.drop_index(batch_op.f('ix_journal_card_number'))
        batch_op.drop_index(batch_op.f('ix_journal_at'))

    op.drop_table('journal')
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cards_status'))
        batch_op.drop_index(batch_op.f('ix_cards_return_by'))
        batch_op.drop_index(batch_op.f('ix_cards_replaces_id'))
        batch_op.drop_index(batch_op.f('ix_cards_holder_id'))
        batch_op.drop_index(batch_op.f('ix_cards_expiry'))

    op.drop_table('cards')
    op.drop_table('purges')
    with op.batch_alter_table('hotlist', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hotlist_seq'))

    op.drop_table('hotlist')
    with op.batch_alter_table('holders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holders_purge_after'))

    op.drop_table('holders')
    op.drop_table('feed_floors')
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entitlements_seq'))

    op.drop_table('entitlements')
    op.drop_table('counters')
