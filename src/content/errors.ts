/** Input the client sent that cannot be used (bad base64, bytes Yjs cannot apply…). REST answers 400. */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError'
}
