/** `exactCents`: stored amounts read exactly, or refused — never rounded the way `Number()` would. */
import { exactCents, InexactCentsError, MAX_CENTS } from '../../lib/money';

describe('exactCents', () => {
  it.each([
    ['a bigint column as text', '6442450941', 6442450941],
    ['one cent', '1', 1],
    ['zero', '0', 0],
    ['an integer column', 2147483647, 2147483647],
    ['the largest safe integer', '9007199254740991', MAX_CENTS],
    ['a bigint', 42n, 42],
  ])('when it reads %s, then it answers the exact number', (_label, value, expected) => {
    expect(exactCents(value, 'orders.total_cents')).toBe(expected);
  });

  it.each([
    ['one above the largest safe integer (Number() would round it)', '9007199254740993'],
    ['the largest bigint', '9223372036854775807'],
    ['a negative amount', '-1'],
    ['a fraction', '1.5'],
    ['a number beyond the safe range', 2 ** 60],
    ['null', null],
    ['text', 'abc'],
  ])('when it reads %s, then it throws naming the column', (_label, value) => {
    expect(() => exactCents(value, 'payments.amount_cents')).toThrow(InexactCentsError);
    expect(() => exactCents(value, 'payments.amount_cents')).toThrow(/payments\.amount_cents/);
  });
});
