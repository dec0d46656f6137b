/** `?itemsPerPage=&page=` as MediaMTX takes them: 100 items per page by default, pages counted from 0. */
export interface PageQuery {
  itemsPerPage?: number;
  page?: number;
}

export const PAGE_QUERY = {
  type: 'object',
  additionalProperties: true,
  properties: {
    itemsPerPage: { type: 'integer', minimum: 1, maximum: 2147483647 },
    page: { type: 'integer', minimum: 0, maximum: 2147483647 },
  },
} as const;

export interface Page<T> {
  itemCount: number;
  pageCount: number;
  items: T[];
}

export function paginate<T>(items: readonly T[], query: PageQuery): Page<T> {
  const perPage = query.itemsPerPage ?? 100;
  const page = query.page ?? 0;
  const pageCount = Math.ceil(items.length / perPage);
  return { itemCount: items.length, pageCount, items: items.slice(page * perPage, (page + 1) * perPage) };
}
